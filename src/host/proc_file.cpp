#include "host/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace netsentry::host {

std::error_code read_proc_file(const std::filesystem::path& path, std::string& out) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  constexpr std::size_t kChunk = 16 * 1024;
  std::error_code error;
  std::size_t used = 0;
  for (;;) {
    if (out.size() < used + kChunk) out.resize(used + kChunk);
    const ssize_t n = ::read(fd, out.data() + used, kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = {errno, std::generic_category()};
      break;
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(error ? 0 : used);
  return error;
}

}  // namespace netsentry::host
