// libFuzzer entry point for data::load_csv (scripts/test runs it for a bounded time, seeded from
// ../shared/datasets). The first byte picks the dialect, skip_bad_rows and a label column; the
// rest is the file, written to a memfd so the loader takes its regular-file (mmap) path. Only
// core::Error, the loader's one-line message, may come out. Built only by the `fuzz` preset.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "core/error.h"
#include "data/csv_loader.h"

namespace {

constexpr netsentry::data::Format kFormats[] = {
    netsentry::data::Format::kAuto,    netsentry::data::Format::kOriginal,
    netsentry::data::Format::kFlows,   netsentry::data::Format::kCicIds2017,
    netsentry::data::Format::kNslKdd,  netsentry::data::Format::kUnswNb15,
    netsentry::data::Format::kGeneric, netsentry::data::Format::kGeneric,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("netsentry-csv-fuzz", MFD_CLOEXEC);
  if (size == 0 || fd < 0) return 0;
  if (::ftruncate(fd, 0) != 0) return 0;
  if (size > 1 && ::pwrite(fd, data + 1, size - 1, 0) != static_cast<ssize_t>(size - 1)) return 0;
  netsentry::data::LoadOptions options;
  options.format = kFormats[data[0] % std::size(kFormats)];
  options.skip_bad_rows = (data[0] & 0x80) != 0;
  if ((data[0] & 0x40) != 0) options.label_column = "label";
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const netsentry::data::Dataset ds = netsentry::data::load_csv({&path, 1}, options);
    (void)ds.rows();
  } catch (const netsentry::core::Error&) {
    // A refused file is a result, not a finding.
  }
  return 0;
}
