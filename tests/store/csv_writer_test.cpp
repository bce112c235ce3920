#include "store/csv_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class CsvWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-csv-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  CsvWriterOptions options(std::uint64_t max_bytes = 0, std::size_t keep = 5) const {
    CsvWriterOptions result;
    result.path = dir_ / "log.csv";
    result.header = {"a", "b"};
    result.max_bytes = max_bytes;
    result.keep = keep;
    return result;
  }

  fs::path dir_;
};

std::string quoted(std::string_view field) {
  std::string line;
  append_csv_field(line, field);
  return line;
}

TEST(CsvField, LeavesPlainFieldsUnquoted) {
  EXPECT_EQ(quoted("eth0"), "eth0");
  EXPECT_EQ(quoted(""), "");
  EXPECT_EQ(quoted("a b;c"), "a b;c");
}

TEST(CsvField, QuotesCommasQuotesAndLineBreaks) {
  EXPECT_EQ(quoted("a,b"), "\"a,b\"");
  EXPECT_EQ(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(quoted("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(quoted("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(quoted("\""), "\"\"\"\"");
}

TEST_F(CsvWriterTest, WritesHeaderThenRowsOnFlush) {
  CsvWriter writer(options());
  writer.write_row({"1", "x,y"});
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n");  // rows wait in the buffer
  writer.flush();
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,\"x,y\"\n");
}

TEST_F(CsvWriterTest, FlushesOnDestruction) {
  {
    CsvWriter writer(options());
    writer.write_row({"1", "2"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,2\n");
}

TEST_F(CsvWriterTest, WritesTheHeaderOnlyOnceWhenAppending) {
  {
    CsvWriter writer(options());
    writer.write_row({"1", "2"});
  }
  {
    CsvWriter writer(options());
    writer.write_row({"3", "4"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,2\n3,4\n");
}

TEST_F(CsvWriterTest, WritesTheHeaderIntoAnExistingEmptyFile) {
  std::ofstream(dir_ / "log.csv").close();
  {
    CsvWriter writer(options());
    writer.write_row({"1", "2"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,2\n");
}

TEST_F(CsvWriterTest, AcceptsAnExistingHeaderWithCrLf) {
  std::ofstream(dir_ / "log.csv", std::ios::binary) << "a,b\r\n1,2\r\n";
  {
    CsvWriter writer(options());
    writer.write_row({"3", "4"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\r\n1,2\r\n3,4\n");
}

TEST_F(CsvWriterTest, EndsATruncatedLastRowBeforeAppending) {
  std::ofstream(dir_ / "log.csv", std::ios::binary) << "a,b\n1,";
  {
    CsvWriter writer(options());
    writer.write_row({"3", "4"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,\n3,4\n");
}

TEST_F(CsvWriterTest, RejectsAnExistingFileWithAnotherHeader) {
  std::ofstream(dir_ / "log.csv", std::ios::binary) << "timestamp,bytes\n1,2\n";
  try {
    CsvWriter writer(options());
    FAIL() << "expected core::Error";
  } catch (const core::Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find((dir_ / "log.csv").string()), std::string::npos) << message;
    EXPECT_NE(message.find("\"timestamp,bytes\""), std::string::npos) << message;
    EXPECT_NE(message.find("\"a,b\""), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), "timestamp,bytes\n1,2\n");  // left untouched
}

TEST_F(CsvWriterTest, RejectsAHeaderThatOnlyStartsLikeOurs) {
  std::ofstream(dir_ / "log.csv", std::ios::binary) << "a,b,c\n";
  EXPECT_THROW(CsvWriter writer(options()), core::Error);
}

TEST_F(CsvWriterTest, RejectsARowWithTheWrongFieldCount) {
  CsvWriter writer(options());
  EXPECT_THROW(writer.write_row({"1"}), core::Error);
  EXPECT_THROW(writer.write_row({"1", "2", "3"}), core::Error);
}

TEST_F(CsvWriterTest, ThrowsNamingThePathWhenTheDirectoryIsMissing) {
  CsvWriterOptions bad = options();
  bad.path = dir_ / "missing" / "log.csv";
  try {
    CsvWriter writer(bad);
    FAIL() << "expected core::Error";
  } catch (const core::Error& error) {
    EXPECT_NE(std::string(error.what()).find(bad.path.string()), std::string::npos);
  }
}

TEST_F(CsvWriterTest, RotatesBeforeARowWouldPassMaxBytes) {
  // Header "a,b\n" is 4 bytes and each row "1,2\n" 4 more: 12 bytes hold the header and 2 rows.
  CsvWriter writer(options(12, 3));
  for (int i = 0; i < 3; ++i) writer.write_row({std::to_string(i), "x"});
  writer.flush();
  EXPECT_EQ(writer.rotations(), 1u);
  EXPECT_EQ(read_file(dir_ / "log.csv.1"), "a,b\n0,x\n1,x\n");
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n2,x\n");
}

TEST_F(CsvWriterTest, ShiftsRotatedFilesAndKeepsOnlyKeepOfThem) {
  CsvWriter writer(options(8, 2));  // one row per file
  for (int i = 0; i < 5; ++i) writer.write_row({std::to_string(i), "x"});
  writer.flush();
  EXPECT_EQ(writer.rotations(), 4u);
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n4,x\n");
  EXPECT_EQ(read_file(dir_ / "log.csv.1"), "a,b\n3,x\n");
  EXPECT_EQ(read_file(dir_ / "log.csv.2"), "a,b\n2,x\n");
  EXPECT_FALSE(fs::exists(dir_ / "log.csv.3"));
}

TEST_F(CsvWriterTest, RotatesAFileThatWasAlreadyLargeWhenOpened) {
  std::ofstream(dir_ / "log.csv", std::ios::binary) << "a,b\n0,x\n1,x\n";
  {
    CsvWriter writer(options(12, 1));
    writer.write_row({"2", "x"});
  }
  EXPECT_EQ(read_file(dir_ / "log.csv.1"), "a,b\n0,x\n1,x\n");
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n2,x\n");
}

TEST_F(CsvWriterTest, KeepZeroDiscardsTheFullFile) {
  CsvWriter writer(options(8, 0));
  writer.write_row({"0", "x"});
  writer.write_row({"1", "x"});
  writer.flush();
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,x\n");
  EXPECT_FALSE(fs::exists(dir_ / "log.csv.1"));
}

TEST_F(CsvWriterTest, WithoutAHeaderItIsALineFileThatRotatesTheSameWay) {
  CsvWriterOptions o = options(20, 2);
  o.header.clear();
  {
    std::ofstream(o.path, std::ios::binary) << "{\"a\":0}";  // a line cut short by a crash
    CsvWriter writer(o);
    writer.write_line("{\"a\":1}");
    writer.write_line("{\"a\":2}");
    EXPECT_THROW(writer.write_row({"1", "2"}), core::Error);
  }
  EXPECT_EQ(read_file(dir_ / "log.csv.1"), "{\"a\":0}\n{\"a\":1}\n");
  EXPECT_EQ(read_file(dir_ / "log.csv"), "{\"a\":2}\n");
  CsvWriterOptions csv = options();
  csv.path = dir_ / "other.csv";
  CsvWriter with_header(csv);
  EXPECT_THROW(with_header.write_line("x"), core::Error);
}

TEST_F(CsvWriterTest, KeepsWorkingAfterBeingMoved) {
  CsvWriter first(options());
  first.write_row({"1", "2"});
  CsvWriter second(std::move(first));
  second.write_row({"3", "4"});
  second.flush();
  EXPECT_EQ(read_file(dir_ / "log.csv"), "a,b\n1,2\n3,4\n");
}

}  // namespace
}  // namespace netsentry::store

namespace netsentry::store {
namespace {

// A file-size limit makes writes fail like a full disk (EFBIG instead of ENOSPC), in this
// process only; restoring the limit is "space came back".
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() { lift(); }
  void lift() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

TEST_F(CsvWriterTest, AFullDiskKeepsRowsWholeAndResumesWhenSpaceReturns) {
  CsvWriterOptions o = options();
  o.buffer_bytes = 64;
  o.max_pending_bytes = 4096;
  CsvWriter writer(o);
  FileSizeLimit limit(100);  // header + a few rows
  for (int i = 0; i < 40; ++i) {
    writer.write_row({std::to_string(i), "row-" + std::to_string(i)});
  }
  EXPECT_NO_THROW(writer.flush());
  const WriterHealth failing = writer.health();
  EXPECT_TRUE(failing.failing);
  EXPECT_NE(failing.error.find("log.csv: write failed"), std::string::npos) << failing.error;
  EXPECT_EQ(failing.faults, 1U);
  EXPECT_LE(fs::file_size(dir_ / "log.csv"), 100U);
  EXPECT_EQ(read_file(dir_ / "log.csv").back(), '\n');  // no row cut in two, even now

  limit.lift();
  writer.flush();
  EXPECT_FALSE(writer.health().failing);
  // Every row, in order, none cut: the row that did not fit was written again whole.
  std::string expected = "a,b\n";
  for (int i = 0; i < 40; ++i) {
    expected += std::to_string(i) + ",row-" + std::to_string(i) + "\n";
  }
  EXPECT_EQ(read_file(dir_ / "log.csv"), expected);
}

TEST_F(CsvWriterTest, RowsBeyondThePendingLimitAreCountedAsDropped) {
  CsvWriterOptions o = options();
  o.buffer_bytes = 64;
  o.max_pending_bytes = 256;
  CsvWriter writer(o);
  FileSizeLimit limit(4);  // not even the header fits
  for (int i = 0; i < 100; ++i) writer.write_row({std::to_string(i), "xxxxxxxxxx"});
  writer.flush();
  const WriterHealth h = writer.health();
  EXPECT_TRUE(h.failing);
  EXPECT_GT(h.dropped_rows, 50U);
  limit.lift();
  writer.flush();
  EXPECT_FALSE(writer.health().failing);
  const std::string text = read_file(dir_ / "log.csv");
  // The rows kept are whole lines after a whole header.
  EXPECT_EQ(text.rfind("a,b\n0,xxxxxxxxxx\n", 0), 0U) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(CsvField, InvalidUtf8IsReplaced) {
  std::string line;
  append_csv_field(line, "proc\xFF\xFE");
  EXPECT_EQ(line, "proc\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace netsentry::store
