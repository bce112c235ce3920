#include "ml/bundle_manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace netsentry::ml {
namespace {

namespace fs = std::filesystem;

class BundleManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("netsentry-manifest-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string error() {
    try {
      check_bundle_manifest(dir_);
    } catch (const core::Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
};

TEST_F(BundleManifestTest, AManifestWithoutFormatVersionIsRefusedByName) {
  write("manifest.json", "{}");
  EXPECT_EQ(error(), (dir_ / "manifest.json").string() + ": missing \"format_version\"");
}

TEST_F(BundleManifestTest, AMissingFolderOrManifestOrBadJsonSaysWhich) {
  fs::remove_all(dir_);
  EXPECT_NE(error().find("not a folder"), std::string::npos);
  fs::create_directories(dir_);
  EXPECT_NE(error().find("manifest.json: cannot read"), std::string::npos);
  write("manifest.json", "{\"format_version\": ");
  EXPECT_NE(error().find("manifest.json: not valid JSON"), std::string::npos);
}

TEST_F(BundleManifestTest, AnotherFormatVersionIsRefused) {
  write("manifest.json", R"({"format_version": 99, "models": {}})");
  EXPECT_NE(error().find("format_version 99 is not supported"), std::string::npos);
}

TEST_F(BundleManifestTest, ModelsMustBeKnownAndTheirFilesPresent) {
  write("manifest.json", R"({"format_version": 1, "models": {}})");
  EXPECT_NE(error().find("\"models\" lists no model"), std::string::npos);
  write("manifest.json", R"({"format_version": 1, "models": {"magic": {"file": "m.json"}}})");
  EXPECT_NE(error().find("unknown model \"magic\""), std::string::npos);
  write("manifest.json",
        R"({"format_version": 1, "models": {"isolation_forest": {"file": "if.json"}}})");
  EXPECT_NE(error().find("if.json, which is missing"), std::string::npos);
  write("if.json", "{}");
  EXPECT_EQ(error(), "(no error)");
  write("manifest.json", R"({"format_version": 1, "models": {"autoencoder":
      {"file": "if.json", "weights": "autoencoder.weights"}}})");
  EXPECT_NE(error().find("autoencoder.weights, which is missing"), std::string::npos);
  write("autoencoder.weights", "");
  EXPECT_EQ(error(), "(no error)");
}

TEST(BundleManifest, TheShippedDefaultModelPasses) {
  const fs::path dir = fs::path(NETSENTRY_SOURCE_DIR) / "models" / "default";
  if (!fs::exists(dir / "manifest.json")) GTEST_SKIP() << dir << " absent";
  EXPECT_NO_THROW(check_bundle_manifest(dir));
}

}  // namespace
}  // namespace netsentry::ml
