#include "flow/huge_page_array.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace netsentry::flow {
namespace {

struct Entry {
  std::uint8_t bytes[1000];
};

// Which of the array's 4 KiB pages are in memory now.
std::vector<bool> resident_pages(HugePageArray<Entry>& array) {
  const std::size_t bytes = array.size() * sizeof(Entry);
  const std::size_t pages = (bytes + 4095) / 4096;
  std::vector<unsigned char> flags(pages);
  EXPECT_EQ(::mincore(array.data(), pages * 4096, flags.data()), 0);
  std::vector<bool> out(pages);
  for (std::size_t i = 0; i < pages; ++i) out[i] = (flags[i] & 1) != 0;
  return out;
}

TEST(HugePageArray, PopulateCommitsThePagesOfTheGivenEntriesOnly) {
  // Small pages throughout (huge_bytes 0), as the flow table's slots beyond their first 32 MiB.
  HugePageArray<Entry> array(1000, 0);
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(array.data()) % 4096, 0u);
  for (const bool r : resident_pages(array)) ASSERT_FALSE(r);  // untouched: nothing committed
  if (!array.populate(100, 50)) GTEST_SKIP() << "the kernel lacks MADV_POPULATE_WRITE";
  const std::vector<bool> resident = resident_pages(array);
  const std::size_t first_page = 100 * sizeof(Entry) / 4096;
  const std::size_t last_page = (150 * sizeof(Entry) - 1) / 4096;
  for (std::size_t p = 0; p < resident.size(); ++p) {
    EXPECT_EQ(resident[p], p >= first_page && p <= last_page) << "page " << p;
  }
  // Committed pages read as zero, like untouched ones, and keep what is written.
  EXPECT_EQ(array[120].bytes[0], 0);
  array[120].bytes[999] = 7;
  EXPECT_EQ(array[120].bytes[999], 7);
}

TEST(HugePageArray, PopulatePastTheEndStopsAtTheLastEntry) {
  HugePageArray<Entry> array(1000, 0);
  if (!array.populate(990, 1000)) GTEST_SKIP() << "the kernel lacks MADV_POPULATE_WRITE";
  EXPECT_TRUE(array.populate(1000, 10));  // nothing to commit
  EXPECT_TRUE(array.populate(0, 0));
  const std::vector<bool> resident = resident_pages(array);
  EXPECT_TRUE(resident.back());
  EXPECT_FALSE(resident.front());
  array[999].bytes[999] = 1;
  EXPECT_EQ(array[999].bytes[999], 1);
}

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

TEST(HugePageArray, ForWriteFaultsEachPageOfAnEntryInOnceAsAWrite) {
  // Entry 4 spans bytes 4000-4999: the end of page 0 and the start of page 1.
  HugePageArray<Entry> array(100, 0);
  for (const bool r : resident_pages(array)) ASSERT_FALSE(r);
  const long before = minor_faults();
  Entry& e = array.for_write(4);
  const std::uint8_t seen = e.bytes[0] + e.bytes[999];  // read first, as a lookup does
  e.bytes[999] = static_cast<std::uint8_t>(seen + 9);
  e.bytes[0] = 3;
  Entry& again = array.for_write(4);  // its pages are known now: no touch, no fault
  again.bytes[500] = 1;
  const long faults = minor_faults() - before;
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's shadow memory faults in too
  // One write fault per page; read first, each page would fault twice (zero page, then a copy).
  EXPECT_EQ(faults, 2);
#else
  (void)faults;
#endif
  const std::vector<bool> resident = resident_pages(array);
  EXPECT_TRUE(resident[0]);
  EXPECT_TRUE(resident[1]);
  for (std::size_t p = 2; p < resident.size(); ++p) EXPECT_FALSE(resident[p]) << "page " << p;
  EXPECT_EQ(array[4].bytes[999], 9);
  EXPECT_EQ(array[4].bytes[0], 3);
  EXPECT_EQ(array[4].bytes[500], 1);
  EXPECT_EQ(array[3].bytes[0], 0);  // the rest of the pages still reads as zero
}

}  // namespace
}  // namespace netsentry::flow
