// Session ids are random, bounded in number and lifetime; the Cookie header parser finds a named
// cookie among others and nothing else.
#include "server/sessions.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace netsentry::server {
namespace {

TEST(CookieValue, FindsTheNamedCookieAmongOthers) {
  EXPECT_EQ(cookie_value("a=1; netsentry_session=abc; b=2", "netsentry_session"), "abc");
  EXPECT_EQ(cookie_value("netsentry_session=abc", "netsentry_session"), "abc");
  EXPECT_EQ(cookie_value("  netsentry_session = \"q\" ;", "netsentry_session"), "q");
  EXPECT_EQ(cookie_value("x_netsentry_session=abc; other", "netsentry_session"), std::nullopt);
  EXPECT_EQ(cookie_value("netsentry_session", "netsentry_session"), std::nullopt);
  EXPECT_EQ(cookie_value("", "netsentry_session"), std::nullopt);
  EXPECT_EQ(cookie_value("a=1;;;b=2", "b"), "2");
}

TEST(SessionTable, IdsAreLongRandomAndValidUntilRevoked) {
  SessionTable table;
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string id = table.create();
    EXPECT_EQ(id.size(), 64u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
  const std::string id = *ids.begin();
  EXPECT_TRUE(table.valid(id));
  EXPECT_FALSE(table.valid(id.substr(1)));
  EXPECT_FALSE(table.valid(std::string(64, '0')));
  table.revoke(id);
  EXPECT_FALSE(table.valid(id));
}

TEST(SessionTable, IsBoundedAndForgetsTheOldestFirst) {
  SessionTable table(std::chrono::hours(1), 4);
  const std::string first = table.create();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (int i = 0; i < 4; ++i) (void)table.create();
  EXPECT_EQ(table.size(), 4u);
  EXPECT_FALSE(table.valid(first));
}

TEST(SessionTable, SessionsExpire) {
  SessionTable table(std::chrono::seconds(0));
  const std::string id = table.create();
  EXPECT_FALSE(table.valid(id));
}

TEST(SessionTable, TheCookieIsHttpOnlySameSiteAndRemovable) {
  SessionTable table(std::chrono::seconds(3600));
  const std::string cookie = table.cookie("abc");
  EXPECT_EQ(cookie, "netsentry_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600");
  EXPECT_EQ(table.cookie(""), "netsentry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

}  // namespace
}  // namespace netsentry::server
