#include "data/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <numeric>

#include "data/csv_loader.h"
#include "data/preprocess.h"
#include "data/temp_csv.h"

namespace netsentry::data {
namespace {

using ::testing::ElementsAre;

Dataset small() {
  Dataset ds;
  Column num;
  num.name = "bytes";
  num.values = {1, 2, 3};
  Column cat;
  cat.name = "proto";
  cat.kind = ColumnKind::kCategorical;
  cat.levels = {"tcp", "udp"};
  cat.codes = {0, 1, -1};
  ds.columns = {num, cat};
  ds.y = {0, 1, 1};
  ds.class_code = {0, 1, 2};
  ds.class_names = {"normal", "scan", "flood"};
  ds.timestamp = {30, NAN, 10};
  ds.files = {"a.csv"};
  ds.origin = {{0, 2}, {0, 3}, {0, 4}};
  return ds;
}

TEST(Dataset, SelectRowsKeepsEveryPerRowVectorAligned) {
  const Dataset ds = small();
  const std::vector<std::size_t> idx{2, 0};
  const Dataset s = ds.select_rows(idx);
  ASSERT_EQ(s.rows(), 2u);
  EXPECT_THAT(s.columns[0].values, ElementsAre(3, 1));
  EXPECT_EQ(s.columns[1].text(0), "");
  EXPECT_EQ(s.columns[1].text(1), "tcp");
  EXPECT_THAT(s.y, ElementsAre(1, 0));
  EXPECT_EQ(s.class_name(0), "flood");
  EXPECT_EQ(s.where(0), "a.csv:4");
  EXPECT_TRUE(s.group.empty());
}

TEST(Dataset, TimeOrderPutsUnknownTimesLast) {
  EXPECT_THAT(small().time_order(), ElementsAre(2, 0, 1));
}

TEST(Dataset, CountsRowsPerClass) { EXPECT_THAT(small().class_counts(), ElementsAre(1, 1, 1)); }

// --- Real third-party data (skipped when /work/shared/datasets is absent) -----------------------

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::filesystem::path require_dataset(const std::filesystem::path& rel) {
  const auto p = testing::datasets_dir() / rel;
  return std::filesystem::exists(p) ? p : std::filesystem::path{};
}

TEST(RealData, KddTrainPlusHasPublishedRowAndNormalCounts) {
  const auto path = require_dataset("nsl-kdd/KDDTrain+.txt");
  if (path.empty())
    GTEST_SKIP() << "NSL-KDD not found (set NETSENTRY_DATASETS or add ../shared/datasets)";
  const std::vector<std::string> paths{path.string()};
  LoadReport rep;
  const double cpu0 = thread_cpu_seconds();
  const Dataset ds = load_csv(paths, {}, &rep);
  const double cpu = thread_cpu_seconds() - cpu0;
  std::printf("KDDTrain+ loaded in %.3f s wall, %.3f s CPU\n", rep.seconds, cpu);
  EXPECT_EQ(ds.format, "nsl-kdd");
  ASSERT_EQ(ds.rows(), 125973u);
  EXPECT_EQ(std::count(ds.y.begin(), ds.y.end(), 0), 67343);
  EXPECT_EQ(ds.columns.size(), 41u);
  EXPECT_EQ(ds.find("protocol_type")->levels.size(), 3u);
  EXPECT_EQ(ds.find("service")->levels.size(), 70u);
  EXPECT_EQ(ds.find("flag")->levels.size(), 11u);
  EXPECT_EQ(rep.bad_rows, 0u);
  EXPECT_TRUE(rep.columns.empty());
  // The requirement is under 2 s; CPU time keeps the check meaningful on a busy shared machine.
  EXPECT_LT(cpu, 2.0);
}

TEST(RealData, KddTestPlusMatchesPublishedCounts) {
  const auto path = require_dataset("nsl-kdd/KDDTest+.txt");
  if (path.empty())
    GTEST_SKIP() << "NSL-KDD not found (set NETSENTRY_DATASETS or add ../shared/datasets)";
  const std::vector<std::string> paths{path.string()};
  const Dataset ds = load_csv(paths);
  ASSERT_EQ(ds.rows(), 22544u);
  EXPECT_EQ(std::count(ds.y.begin(), ds.y.end(), 0), 9711);
}

TEST(RealData, PreprocessorFittedOnKddTrainTransformsKddTest) {
  const auto train_path = require_dataset("nsl-kdd/KDDTrain+.txt");
  const auto test_path = require_dataset("nsl-kdd/KDDTest+.txt");
  if (train_path.empty() || test_path.empty()) {
    GTEST_SKIP() << "NSL-KDD not found (set NETSENTRY_DATASETS or add ../shared/datasets)";
  }
  const std::vector<std::string> a{train_path.string()}, b{test_path.string()};
  const Dataset train = load_csv(a);
  const Dataset test = load_csv(b);
  Preprocessor p;
  p.fit(train);
  // 38 numeric less num_outbound_cmds (always 0 in KDDTrain+) + protocol_type (3 + other) +
  // service (31 kept + other) + flag (11 + other).
  EXPECT_EQ(p.output_size(), 37u + 4 + 32 + 12);
  const auto& names = p.feature_names();
  EXPECT_EQ(std::find(names.begin(), names.end(), "num_outbound_cmds"), names.end());
  const Matrix m = p.transform(test);
  ASSERT_EQ(m.rows, 22544u);
  EXPECT_TRUE(
      std::all_of(m.values.begin(), m.values.end(), [](float v) { return std::isfinite(v); }));
}

TEST(RealData, CicSampleLoadsAllNineClasses) {
  const auto dir = require_dataset("cicids2017-improved-sample");
  if (dir.empty()) GTEST_SKIP() << "CIC-IDS2017 sample not found (set NETSENTRY_DATASETS)";
  const std::vector<std::string> paths{(dir / "*.csv").string()};
  LoadReport rep;
  const Dataset ds = load_csv(paths, {}, &rep);
  EXPECT_EQ(ds.format, "cicids2017");
  EXPECT_EQ(rep.files.size(), 9u);
  EXPECT_EQ(ds.rows(), 5000u * 4 + 736 + 3859 + 3972 + 2961 + 73);
  std::map<std::string, std::size_t> per_class;
  const auto counts = ds.class_counts();
  for (std::size_t c = 0; c < counts.size(); ++c) per_class[ds.class_names[c]] = counts[c];
  EXPECT_EQ(per_class.size(), 9u);
  EXPECT_EQ(per_class["BENIGN"], 5000u);
  EXPECT_EQ(per_class["Botnet"], 736u);
  EXPECT_EQ(per_class["Web Attack - Brute Force"], 73u);
  EXPECT_EQ(std::count(ds.y.begin(), ds.y.end(), 0), 5000);
  // 91 columns minus id, Flow ID, Src IP, Src Port, Dst IP, Timestamp, Label, Attempted Category.
  EXPECT_EQ(ds.columns.size(), 83u);
  EXPECT_NE(ds.find("Dst Port"), nullptr);
  EXPECT_NE(ds.find("Total Bwd packets"), nullptr);
  EXPECT_EQ(ds.find("Protocol")->kind, ColumnKind::kCategorical);
  EXPECT_EQ(ds.timestamp.size(), ds.rows());
  EXPECT_TRUE(std::none_of(ds.timestamp.begin(), ds.timestamp.end(),
                           [](double t) { return std::isnan(t); }));
  EXPECT_FALSE(ds.group_names.empty());
}

}  // namespace
}  // namespace netsentry::data
