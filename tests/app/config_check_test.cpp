#include "app/config_check.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace netsentry::app {
namespace {

namespace fs = std::filesystem;

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto* monitor = app_.add_subcommand("monitor");
    monitor->add_option("--speed", speed_);
    monitor->add_option("--rotate-mb", rotate_);
    app_.add_subcommand("watch")->add_option("--interval", rotate_);
    app_.add_flag("-v,--verbose", verbose_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The error message, or "" when the file passes.
  std::string check(const std::string& text) {
    const fs::path path = dir_ / "netsentry.toml";
    std::ofstream(path, std::ios::binary) << text;
    try {
      check_config_file(path, app_);
    } catch (const core::Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  CLI::App app_;
  std::string speed_;
  double rotate_ = 0;
  bool verbose_ = false;
};

TEST_F(ConfigCheckTest, AcceptsTheOptionsOfEachSection) {
  EXPECT_EQ(check("verbose = true\n[monitor]\nspeed = \"10\"\nrotate-mb = 5\n"
                  "[watch]\ninterval = 2\n"),
            "");
}

TEST_F(ConfigCheckTest, NamesFileAndLineOfAnUnknownKey) {
  const std::string e = check("[monitor]\nspeed = \"10\"\n\nspeeed = \"max\"\n");
  EXPECT_NE(e.find("netsentry.toml:4: unknown key \"speeed\" in [monitor]"), std::string::npos)
      << e;
}

TEST_F(ConfigCheckTest, NamesFileAndLineOfAnUnknownOrBrokenSection) {
  EXPECT_NE(check("[monitr]\nspeed = 1\n").find("netsentry.toml:1: unknown section [monitr]"),
            std::string::npos);
  const std::string broken = check("# x\n[monitor\nspeed = 1\n");
  EXPECT_NE(broken.find("netsentry.toml:2:"), std::string::npos) << broken;
}

TEST_F(ConfigCheckTest, RefusesBinaryGarbageWithoutEchoingIt) {
  const std::string e = check(std::string("[monitor]\nspeed = 1\n\x7f\x45LF\x02\x01\x01\0\0", 22));
  EXPECT_NE(e.find("netsentry.toml:3: not a TOML text file"), std::string::npos) << e;
  EXPECT_EQ(e.find('\x7f'), std::string::npos);
}

}  // namespace
}  // namespace netsentry::app
