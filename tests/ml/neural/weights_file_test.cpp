// Tests for the plain weights file (src/ml/neural/weights_file.h): a round trip keeps every value
// bit for bit, and every kind of damage is refused with the file's name and what does not match.
#include "ml/neural/weights_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::ml::neural {
namespace {

using ::testing::HasSubstr;

std::vector<Tensor> sample() {
  return {{"layers.0.weight", {3, 2}, {1.5f, -2.0f, 0.25f, 1e-8f, -0.0f, 3.0e7f}},
          {"layers.0.bias", {3}, {0.1f, 0.2f, 0.3f}}};
}

class WeightsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("netsentry_weights_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = dir_ / "model.weights";
    write_weights(path_, sample());
    std::ifstream in(path_, std::ios::binary);
    bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void rewrite(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  // The message read_weights() throws for the file as it is now.
  std::string error() {
    try {
      (void)read_weights(path_);
    } catch (const core::Error& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path dir_, path_;
  std::string bytes_;
};

TEST_F(WeightsFile, RoundTripKeepsNamesShapesAndEveryValueBitForBit) {
  const std::vector<Tensor> read = read_weights(path_);
  const std::vector<Tensor> written = sample();
  ASSERT_EQ(read.size(), written.size());
  for (std::size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].name, written[i].name);
    EXPECT_EQ(read[i].shape, written[i].shape);
    ASSERT_EQ(read[i].values.size(), written[i].values.size());
    for (std::size_t k = 0; k < read[i].values.size(); ++k) {
      EXPECT_EQ(std::bit_cast<std::uint32_t>(read[i].values[k]),
                std::bit_cast<std::uint32_t>(written[i].values[k]));
    }
  }
  // 8 magic + 4 version + 4 count + entries (2+15+1+1+8, 2+13+1+1+4) + 9 floats + 8 checksum.
  EXPECT_EQ(bytes_.size(), 16u + 27u + 21u + 36u + 8u);
}

TEST_F(WeightsFile, ATruncatedFileNamesTheFileAndTheMissingBytes) {
  rewrite(bytes_.substr(0, bytes_.size() - 5));
  const std::string e = error();
  EXPECT_THAT(e, HasSubstr(path_.string()));
  EXPECT_THAT(e, HasSubstr("truncated"));
  EXPECT_THAT(e, HasSubstr("need 9 float32 values (36 bytes)"));
  rewrite(bytes_.substr(0, 20));
  EXPECT_THAT(error(), HasSubstr("truncated"));
}

TEST_F(WeightsFile, AChangedValueFailsTheChecksum) {
  std::string damaged = bytes_;
  damaged[damaged.size() - 8 - 4] ^= 0x01;  // the last value's lowest byte
  rewrite(damaged);
  EXPECT_THAT(error(), HasSubstr("checksum"));
  EXPECT_THAT(error(), HasSubstr(path_.string()));
}

TEST_F(WeightsFile, TrailingBytesAndAnotherFileAreRefused) {
  rewrite(bytes_ + std::string(8, '\0'));
  EXPECT_THAT(error(), HasSubstr("damaged or truncated"));
  rewrite("PK\x03\x04 a LibTorch zip archive, not ours");
  EXPECT_THAT(error(), HasSubstr("not a netsentry weights file"));
  std::string other_version = bytes_;
  other_version[8] = 2;
  rewrite(other_version);
  EXPECT_THAT(error(), HasSubstr("weights format version 2, this build reads 1"));
}

TEST_F(WeightsFile, ShapesThatDoNotMatchTheArchitectureNameTheTensorAndBothShapes) {
  const TensorSpec right[] = {{"layers.0.weight", {3, 2}}, {"layers.0.bias", {3}}};
  EXPECT_EQ(read_weights(path_, right, dir_ / "model.json").size(), 2u);
  const TensorSpec wider[] = {{"layers.0.weight", {3, 4}}, {"layers.0.bias", {3}}};
  try {
    (void)read_weights(path_, wider, dir_ / "model.json");
    FAIL() << "a [3, 2] tensor was read as [3, 4]";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tensor 'layers.0.weight' has shape [3, 2], the architecture "
                                    "in " +
                                    (dir_ / "model.json").string() + " needs [3, 4]"));
  }
  const TensorSpec renamed[] = {{"lstm.weight_ih_l0", {3, 2}}, {"layers.0.bias", {3}}};
  EXPECT_THROW((void)read_weights(path_, renamed, dir_ / "model.json"), core::Error);
  const TensorSpec fewer[] = {{"layers.0.weight", {3, 2}}};
  EXPECT_THROW((void)read_weights(path_, fewer, dir_ / "model.json"), core::Error);
}

// Every shorter file and every single changed byte is refused with core::Error (nothing else
// escapes, nothing is read as weights): the checksum covers every byte before it, and the sizes
// are checked against the file before anything is allocated.
TEST_F(WeightsFile, EveryTruncationAndEveryChangedByteIsRefused) {
  for (std::size_t length = 0; length < bytes_.size(); ++length) {
    rewrite(bytes_.substr(0, length));
    EXPECT_THROW((void)read_weights(path_), core::Error) << length << " bytes";
  }
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    for (const unsigned char x : {0x01, 0x80, 0xff}) {
      std::string damaged = bytes_;
      damaged[i] = static_cast<char>(damaged[i] ^ x);
      rewrite(damaged);
      EXPECT_THROW((void)read_weights(path_), core::Error) << "byte " << i << " ^ " << int{x};
    }
  }
}

TEST_F(WeightsFile, ANameWithControlBytesIsPrintedEscaped) {
  // A well-formed file (its checksum right) whose tensor name carries an escape sequence: the
  // message about it must not hand raw control bytes to a terminal.
  write_weights(path_, std::vector<Tensor>{{"layers.0.weight\x1b[2J\n", {3, 2}, {1, 2, 3, 4, 5, 6}},
                                           {"layers.0.bias", {3}, {1, 2, 3}}});
  const TensorSpec right[] = {{"layers.0.weight", {3, 2}}, {"layers.0.bias", {3}}};
  try {
    (void)read_weights(path_, right, dir_ / "model.json");
    FAIL() << "a renamed tensor was accepted";
  } catch (const core::Error& e) {
    const std::string message = e.what();
    EXPECT_THAT(message, HasSubstr("tensor 0 is 'layers.0.weight\\x1b[2J\\x0a'"));
    EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST_F(WeightsFile, RefusesToWriteValuesThatDoNotFillTheShape) {
  const std::vector<Tensor> bad = {{"w", {2, 2}, {1.0f, 2.0f, 3.0f}}};
  EXPECT_THROW(write_weights(dir_ / "bad.weights", bad), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::neural
