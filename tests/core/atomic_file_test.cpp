#include "core/atomic_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace netsentry::core {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-atomic-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  [[nodiscard]] std::size_t entries() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }
  fs::path dir_;
};

// Writes past this size fail (EFBIG) like a full disk, in this process only.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

TEST_F(AtomicFileTest, ReplacesTheFileWhole) {
  write_file_atomically(dir_ / "evaluation.json", "{\"a\": 1}\n");
  write_file_atomically(dir_ / "evaluation.json", "{\"a\": 2}\n");
  EXPECT_EQ(read(dir_ / "evaluation.json"), "{\"a\": 2}\n");
  EXPECT_EQ(entries(), 1U);  // no temporary left behind
}

TEST_F(AtomicFileTest, AFailedWriteLeavesThePreviousFile) {
  write_file_atomically(dir_ / "evaluation.json", "old and complete\n");
  {
    FileSizeLimit limit(8);
    EXPECT_THROW(write_file_atomically(dir_ / "evaluation.json", std::string(4096, 'x')), Error);
  }
  EXPECT_EQ(read(dir_ / "evaluation.json"), "old and complete\n");
  EXPECT_EQ(entries(), 1U);
}

TEST_F(AtomicFileTest, AStagedFolderReplacesTheOldOneAndKeepsWhatItLacks) {
  fs::create_directories(dir_ / "bundle" / "traffic");
  std::ofstream(dir_ / "bundle" / "manifest.json") << "old";
  std::ofstream(dir_ / "bundle" / "traffic" / "forecaster.pt") << "lstm";
  {
    StagedDirectory staged(dir_ / "bundle");
    std::ofstream(staged.path() / "manifest.json") << "new";
    staged.commit();
  }
  EXPECT_EQ(read(dir_ / "bundle" / "manifest.json"), "new");
  EXPECT_EQ(read(dir_ / "bundle" / "traffic" / "forecaster.pt"), "lstm");
  EXPECT_EQ(entries(), 1U);
}

TEST_F(AtomicFileTest, AStagedFolderNotCommittedLeavesTheOldOneAndNoTrace) {
  fs::create_directories(dir_ / "bundle");
  std::ofstream(dir_ / "bundle" / "manifest.json") << "old";
  {
    StagedDirectory staged(dir_ / "bundle/");
    std::ofstream(staged.path() / "manifest.json") << "half";
    // an exception would leave the scope here
  }
  EXPECT_EQ(read(dir_ / "bundle" / "manifest.json"), "old");
  EXPECT_EQ(entries(), 1U);
}

}  // namespace
}  // namespace netsentry::core
