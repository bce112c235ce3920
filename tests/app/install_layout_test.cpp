#include "app/install_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace netsentry::app {
namespace {

namespace fs = std::filesystem;

class InstallLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ns-install-layout-" + std::to_string(::getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(InstallLayoutTest, APrefixInstallNamesItsSharedFilesAndItsEtc) {
  fs::create_directories(root_ / "opt" / "bin");
  fs::create_directories(root_ / "opt" / "share" / "netsentry" / "web");
  const auto layout = installed_layout(root_ / "opt" / "bin" / "netsentry");
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->prefix, root_ / "opt");
  EXPECT_EQ(layout->default_model, root_ / "opt/share/netsentry/models/default");
  EXPECT_EQ(layout->web_dir, root_ / "opt/share/netsentry/web");
  EXPECT_EQ(layout->config, root_ / "opt/etc/netsentry/netsentry.toml");
}

TEST_F(InstallLayoutTest, ABuildTreeIsNotAnInstall) {
  // build/release/netsentry: no bin/ folder, even with a share/ somewhere above.
  fs::create_directories(root_ / "build" / "release");
  fs::create_directories(root_ / "share" / "netsentry");
  EXPECT_FALSE(installed_layout(root_ / "build" / "release" / "netsentry").has_value());
  // bin/ without share/netsentry beside it (a copied binary).
  fs::create_directories(root_ / "copy" / "bin");
  EXPECT_FALSE(installed_layout(root_ / "copy" / "bin" / "netsentry").has_value());
}

TEST(InstallLayout, ThePackagesPrefixKeepsItsConfigurationInEtc) {
  const InstallLayout layout = layout_of("/usr");
  EXPECT_EQ(layout.config, fs::path("/etc/netsentry/netsentry.toml"));
  EXPECT_EQ(layout.default_model, fs::path("/usr/share/netsentry/models/default"));
  EXPECT_EQ(layout.web_dir, fs::path("/usr/share/netsentry/web"));
}

}  // namespace
}  // namespace netsentry::app
