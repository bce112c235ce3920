#include "core/utf8.h"

#include <gtest/gtest.h>

namespace netsentry::core {
namespace {

TEST(Utf8, ValidTextIsValidAndUnchanged) {
  for (const std::string s : {"", "eth0", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    EXPECT_TRUE(is_valid_utf8(s)) << s;
    EXPECT_EQ(sanitize_utf8(s), s);
  }
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_FALSE(is_valid_utf8("\xFF\xFE"));
  EXPECT_EQ(sanitize_utf8("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("a\x80z"), "a\xEF\xBF\xBDz");
}

TEST(Utf8, OverlongSurrogateAndOutOfRangeFormsAreInvalid) {
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
}

TEST(Utf8, TruncatedSequenceIsOneReplacementAndTheNextByteIsKept) {
  // E2 82 is the start of the euro sign cut short: one U+FFFD, then 'x' as it was.
  EXPECT_EQ(sanitize_utf8("\xE2\x82x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(sanitize_utf8("\xE2\x82"), "\xEF\xBF\xBD");
}

TEST(Utf8, PrintableEscapesControlBytes) {
  EXPECT_EQ(printable("a\x1b[31mb\n"), "a\\x1b[31mb\\x0a");
  EXPECT_EQ(printable("\xFF"), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace netsentry::core
