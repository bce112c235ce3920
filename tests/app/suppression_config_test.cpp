#include "app/suppression_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace netsentry::app {
namespace {

namespace fs = std::filesystem;

TEST(SuppressionConfig, SetsTheMonitorSectionsSuppressKeyAndKeepsEveryOtherLine) {
  const std::string config =
      "# netsentry configuration\n[monitor]\n# Suppression rule, repeatable\nsuppress=\"\"\n\n"
      "volume-limit=100000\n\n[dashboard]\nsuppress=\"not the monitor's\"\n";
  EXPECT_EQ(with_suppress_rules(config, {"src=10.0.0.5 kind=port_scan", "dst_port=53"}),
            "# netsentry configuration\n[monitor]\n# Suppression rule, repeatable\n"
            "suppress=[\"src=10.0.0.5 kind=port_scan\", \"dst_port=53\"]\n\nvolume-limit=100000\n\n"
            "[dashboard]\nsuppress=\"not the monitor's\"\n");
  // No key yet: added at the end of the section; no section: added with it.
  EXPECT_EQ(with_suppress_rules("[monitor]\nthreads=1\n\n[train]\nx=1\n", {"dst_port=53"}),
            "[monitor]\nthreads=1\nsuppress=[\"dst_port=53\"]\n\n[train]\nx=1\n");
  EXPECT_EQ(with_suppress_rules("[train]\nx=1\n", {}),
            "[train]\nx=1\n\n[monitor]\nsuppress=\"\"\n");
  // Quotes, backslashes and control characters are escaped as TOML wants.
  EXPECT_EQ(with_suppress_rules("[monitor]\n", {"iface=a\"b\\c\t"}),
            "[monitor]\nsuppress=[\"iface=a\\\"b\\\\c\\u0009\"]\n");
}

class SuppressionConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns-suppress-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "netsentry.toml") << "[monitor]\nsuppress=\"\"\nthreads=1\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file() const {
    std::ifstream in(dir_ / "netsentry.toml");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  fs::path dir_;
};

TEST_F(SuppressionConfigFile, AddsAndRemovesRulesInTheStageAndTheFile) {
  detect::DetectionOptions options;
  options.site_baseline = false;
  options.volume_baseline = false;
  options.live = false;
  detect::DetectionStage stage(options, {});
  SuppressionConfig rules(stage, {"dst_port=53"}, dir_ / "netsentry.toml");
  EXPECT_EQ(rules.saved_to(), (dir_ / "netsentry.toml").string());
  rules.add("src=10.0.0.5 kind=port_scan");
  rules.add("src=10.0.0.5 kind=port_scan");  // once
  EXPECT_EQ(rules.rules(),
            (std::vector<std::string>{"dst_port=53", "src=10.0.0.5 kind=port_scan"}));
  EXPECT_EQ(file(),
            "[monitor]\nsuppress=[\"dst_port=53\", \"src=10.0.0.5 kind=port_scan\"]\n"
            "threads=1\n");
  EXPECT_THROW(rules.add("colour=blue"), core::Error);
  EXPECT_EQ(rules.rules().size(), 2u);
  EXPECT_TRUE(rules.remove("dst_port=53"));
  EXPECT_FALSE(rules.remove("dst_port=53"));
  EXPECT_EQ(file(), "[monitor]\nsuppress=[\"src=10.0.0.5 kind=port_scan\"]\nthreads=1\n");
  // The last one removed: written so that the next start reads it (CLI11 refuses "[]").
  EXPECT_TRUE(rules.remove("src=10.0.0.5 kind=port_scan"));
  EXPECT_EQ(file(), "[monitor]\nsuppress=\"\"\nthreads=1\n");
}

TEST_F(SuppressionConfigFile, WithoutAFileTheRulesLastUntilTheProcessEnds) {
  detect::DetectionOptions options;
  options.site_baseline = false;
  options.volume_baseline = false;
  options.live = false;
  detect::DetectionStage stage(options, {});
  SuppressionConfig rules(stage, {}, {});
  rules.add("dst_port=53");
  EXPECT_EQ(rules.rules(), (std::vector<std::string>{"dst_port=53"}));
  EXPECT_EQ(rules.saved_to(), "");
}

}  // namespace
}  // namespace netsentry::app
