#include "flow/huge_page_array.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
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

}  // namespace
}  // namespace netsentry::flow
