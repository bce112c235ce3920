#include "core/prefetch.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstring>

namespace netsentry::core {
namespace {

// AddressSanitizer reads shadow memory beside each access, whose pages fault in too.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountsFaults = false;
#else
constexpr bool kCountsFaults = true;
#endif

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Two fresh anonymous pages, unmapped at the end.
struct FreshPages {
  static constexpr std::size_t kBytes = 2 * 4096;
  FreshPages()
      : base(static_cast<unsigned char*>(
            ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))) {}
  ~FreshPages() { ::munmap(base, kBytes); }
  unsigned char* base;
};

TEST(TouchForWrite, AFreshPageTakesOneFaultForTheReadAndWriteAfterIt) {
  if (!kCountsFaults) {
    GTEST_SKIP() << "page faults are not this code's alone under AddressSanitizer";
  }
  FreshPages pages;
  ASSERT_NE(pages.base, MAP_FAILED);
  volatile unsigned char* page = pages.base;
  const long before = minor_faults();
  touch_for_write(pages.base, 16);
  const unsigned char seen = page[8];  // the read an entry's lookup does first
  page[9] = static_cast<unsigned char>(seen + 7);
  // One fault, taken as a write: the read after it and the write find the page mapped writable.
  // (Read first, the page would be the shared zero page and the write would fault again.)
  EXPECT_EQ(minor_faults() - before, 1);
  EXPECT_EQ(page[9], 7);
}

TEST(TouchForWrite, LeavesTheBytesAsTheyWereAndReachesAnEntryAcrossAPageBoundary) {
  FreshPages pages;
  ASSERT_NE(pages.base, MAP_FAILED);
  unsigned char* entry = pages.base + 4096 - 8;  // 8 bytes on each page
  for (int i = 0; i < 16; ++i) entry[i] = static_cast<unsigned char>(0xA0 + i);
  unsigned char copy[16];
  std::memcpy(copy, entry, sizeof(copy));
  touch_for_write(entry, 16);
  EXPECT_EQ(std::memcmp(copy, entry, sizeof(copy)), 0);

  if (!kCountsFaults) {
    GTEST_SKIP() << "page faults are not this code's alone under AddressSanitizer";
  }
  FreshPages fresh;
  ASSERT_NE(fresh.base, MAP_FAILED);
  volatile unsigned char* straddling = fresh.base + 4096 - 8;
  const long before = minor_faults();
  touch_for_write(fresh.base + 4096 - 8, 16);
  const unsigned char last = straddling[15];  // on the second page
  straddling[15] = static_cast<unsigned char>(last + 1);
  EXPECT_EQ(minor_faults() - before, 2);  // one write fault per page, none after
}

}  // namespace
}  // namespace netsentry::core
