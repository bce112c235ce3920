// Provides the byte-level helpers the capture file readers in src/capture/ share (internal to
// this folder): fixed-size loads in the file's byte order and an owner for a file descriptor.
// Thread rules: plain functions and a plain owner; use each descriptor from one thread.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace netsentry::capture {

// A 32-bit value stored in the file's byte order; `swapped` when that order is not the host's.
inline std::uint32_t load32(const std::uint8_t* p, bool swapped) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return swapped ? __builtin_bswap32(v) : v;
}

// A 16-bit value stored in the file's byte order; `swapped` when that order is not the host's.
inline std::uint16_t load16(const std::uint8_t* p, bool swapped) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return swapped ? __builtin_bswap16(v) : v;
}

// Owns a file descriptor and closes it; -1 owns nothing.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace netsentry::capture
