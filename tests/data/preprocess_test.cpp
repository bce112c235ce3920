#include "data/preprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/csv_loader.h"
#include "data/temp_csv.h"

namespace netsentry::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Column numeric(std::string name, std::vector<float> v) {
  Column c;
  c.name = std::move(name);
  c.values = std::move(v);
  return c;
}

Column categorical(std::string name, std::vector<std::string> levels,
                   std::vector<std::int32_t> codes) {
  Column c;
  c.name = std::move(name);
  c.kind = ColumnKind::kCategorical;
  c.levels = std::move(levels);
  c.codes = std::move(codes);
  return c;
}

Dataset with_rows(std::vector<Column> cols) {
  Dataset ds;
  ds.columns = std::move(cols);
  const std::size_t n = ds.columns[0].kind == ColumnKind::kNumeric ? ds.columns[0].values.size()
                                                                   : ds.columns[0].codes.size();
  ds.origin.resize(n);
  return ds;
}

PreprocessOptions raw_options() {
  PreprocessOptions o;
  o.log1p = Log1p::kOff;
  o.scale = false;
  return o;
}

Dataset original_schema() {
  return with_rows({numeric("Duration", {2, 0, 4}), numeric("PacketCount", {10, 0, 5}),
                    numeric("ByteCount", {1000, 0, 50}),
                    categorical("Protocol", {"tcp", "udp"}, {0, 1, 0})});
}

TEST(Preprocessor, AddsOriginalEngineeredFeaturesWithSafeDivision) {
  Preprocessor p(raw_options());
  const Dataset ds = original_schema();
  p.fit(ds);
  EXPECT_THAT(p.feature_names(),
              ElementsAre("Duration", "PacketCount", "ByteCount", "BytesPerPacket", "PacketRate",
                          "ByteRate", "Duration_PacketCount_Ratio", "Protocol=tcp", "Protocol=udp",
                          "Protocol=<other>"));
  const Matrix m = p.transform(ds);
  ASSERT_EQ(m.rows, 3u);
  EXPECT_THAT(std::vector<float>(m.row(0).begin(), m.row(0).end()),
              ElementsAre(2, 10, 1000, 100, 5, 500, 0.2f, 1, 0, 0));
  // All divisors zero: every engineered feature is 0, never NaN or infinity.
  EXPECT_THAT(std::vector<float>(m.row(1).begin(), m.row(1).end()),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 1, 0));
}

TEST(Preprocessor, ImputesMissingValuesWithTrainingMedian) {
  Preprocessor p(raw_options());
  p.fit(with_rows({numeric("x", {1, NAN, 3, 10, NAN})}));  // finite median = 3
  const Matrix m = p.transform(with_rows({numeric("x", {NAN, 5})}));
  EXPECT_FLOAT_EQ(m.at(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(m.at(1, 0), 5.0f);
}

TEST(Preprocessor, DropsColumnsConstantOverTrainingByDefault) {
  PreprocessOptions o;
  o.log1p = Log1p::kOff;
  Preprocessor p(o);
  p.fit(with_rows({numeric("x", {1, 2, 3, 4}), numeric("k", {7, 7, 7, 7})}));
  EXPECT_EQ(p.feature_names(), std::vector<std::string>{"x"});
  EXPECT_EQ(p.numeric_inputs(), std::vector<std::string>{"x"});
  const Matrix m = p.transform(with_rows({numeric("x", {2.5}), numeric("k", {9})}));
  EXPECT_EQ(m.cols, 1u);
  const auto back = Preprocessor::from_json(p.to_json());
  EXPECT_EQ(back.transform(with_rows({numeric("x", {2.5})})).values, m.values);
}

TEST(Preprocessor, StandardScalesAndLeavesConstantColumnsAtScaleOne) {
  PreprocessOptions o;
  o.log1p = Log1p::kOff;
  o.drop_constant = false;
  Preprocessor p(o);
  const Dataset ds = with_rows({numeric("x", {1, 2, 3, 4}), numeric("k", {7, 7, 7, 7})});
  p.fit(ds);
  const Matrix m = p.transform(ds);
  double sum = 0, sq = 0;
  for (std::size_t r = 0; r < 4; ++r) {
    sum += m.at(r, 0);
    sq += m.at(r, 0) * m.at(r, 0);
    EXPECT_FLOAT_EQ(m.at(r, 1), 0.0f);
  }
  EXPECT_NEAR(sum / 4, 0.0, 1e-6);
  EXPECT_NEAR(sq / 4, 1.0, 1e-6);
  const Matrix other = p.transform(with_rows({numeric("x", {2.5}), numeric("k", {9})}));
  EXPECT_FLOAT_EQ(other.at(0, 1), 2.0f);  // (9 - 7) / 1
}

TEST(Preprocessor, Log1pOnlyOnNonNegativeHeavyTailedColumns) {
  PreprocessOptions o;
  o.scale = false;
  Preprocessor p(o);
  p.fit(with_rows({numeric("bytes", {0, 10, 100000}), numeric("rate", {0, 0.5, 1}),
                   numeric("delta", {-5000, 0, 5000})}));
  const Matrix m = p.transform(with_rows(
      {numeric("bytes", {99, -3}), numeric("rate", {0.25, 0}), numeric("delta", {-5000, 0})}));
  EXPECT_FLOAT_EQ(m.at(0, 0), static_cast<float>(std::log1p(99.0)));
  EXPECT_FLOAT_EQ(m.at(1, 0), 0.0f);  // negative at inference is clamped to 0
  EXPECT_FLOAT_EQ(m.at(0, 1), 0.25f);
  EXPECT_FLOAT_EQ(m.at(0, 2), -5000.0f);
}

TEST(Preprocessor, CapsCategoriesAndSendsRareAndUnseenToOther) {
  PreprocessOptions o = raw_options();
  o.max_categories = 3;
  Preprocessor p(o);
  // Counts: http 3, dns 2, ftp 1, ssh 1 -> keep http, dns.
  p.fit(with_rows({categorical("service", {"ftp", "http", "dns", "ssh"}, {1, 1, 2, 0, 3, 1, 2})}));
  EXPECT_THAT(p.feature_names(), ElementsAre("service=http", "service=dns", "service=<other>"));
  const Matrix m =
      p.transform(with_rows({categorical("service", {"dns", "telnet", "ftp"}, {0, 1, 2, -1})}));
  EXPECT_THAT(std::vector<float>(m.values.begin(), m.values.end()),
              ElementsAre(0, 1, 0, /*unseen*/ 0, 0, 1, /*rare*/ 0, 0, 1, /*empty*/ 0, 0, 1));
}

TEST(Preprocessor, LabelEncodingGivesSlotIndex) {
  PreprocessOptions o = raw_options();
  o.encoding = CategoricalEncoding::kLabel;
  Preprocessor p(o);
  p.fit(with_rows({categorical("flag", {"SF", "S0"}, {0, 0, 1})}));
  EXPECT_THAT(p.feature_names(), ElementsAre("flag"));
  const Matrix m = p.transform(with_rows({categorical("flag", {"S0", "REJ"}, {0, 1})}));
  EXPECT_FLOAT_EQ(m.at(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(m.at(1, 0), 2.0f);  // unseen -> other slot
}

TEST(Preprocessor, JsonRoundTripGivesIdenticalTransform) {
  Preprocessor p;  // defaults: one-hot, log1p heavy-tailed, scaling
  const Dataset ds =
      with_rows({numeric("Duration", {0.5, 2, NAN, 30}), numeric("PacketCount", {1, 20, 3, 4000}),
                 numeric("ByteCount", {60, 15000, 180, 5e6}),
                 categorical("Protocol", {"tcp", "udp", "icmp"}, {0, 1, 2, 0})});
  p.fit(ds);
  const std::string text = p.to_json().dump();
  const Preprocessor q = Preprocessor::from_json(nlohmann::json::parse(text));
  EXPECT_EQ(q.feature_names(), p.feature_names());
  const Matrix a = p.transform(ds);
  const Matrix b = q.transform(ds);
  EXPECT_EQ(a.values, b.values);  // bit-identical
  EXPECT_EQ(q.to_json(), p.to_json());
}

TEST(Preprocessor, FromJsonExplainsWhatIsWrong) {
  Preprocessor p(raw_options());
  p.fit(original_schema());
  nlohmann::json j = p.to_json();
  j["version"] = 99;
  EXPECT_THAT([&] { (void)Preprocessor::from_json(j); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("version 99 is not supported")));
  j = p.to_json();
  j["numeric"][0].erase("median");
  EXPECT_THAT([&] { (void)Preprocessor::from_json(j); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("median")));
  j = p.to_json();
  j["feature_names"].push_back("extra");
  EXPECT_THAT([&] { (void)Preprocessor::from_json(j); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("feature_names do not match")));
}

TEST(Preprocessor, RecordTransformMatchesBatchTransform) {
  Preprocessor p;
  const Dataset ds = original_schema();
  p.fit(ds);
  const Matrix batch = p.transform(ds);
  ASSERT_THAT(p.numeric_inputs(), ElementsAre("Duration", "PacketCount", "ByteCount"));
  ASSERT_THAT(p.categorical_inputs(), ElementsAre("Protocol"));
  std::vector<float> out(p.output_size());
  // A live flow gives the protocol as a number: "6" is tcp.
  const double num[] = {2, 10, 1000};
  const std::string_view cat[] = {"6"};
  p.transform_record(num, cat, out);
  EXPECT_EQ(out, std::vector<float>(batch.row(0).begin(), batch.row(0).end()));

  std::vector<float> by_name(p.output_size());
  p.transform_record(
      [](std::string_view name) {
        if (name == "Duration") return 4.0;
        if (name == "PacketCount") return 5.0;
        return 50.0;
      },
      [](std::string_view) { return std::string_view("TCP"); }, by_name);
  EXPECT_EQ(by_name, std::vector<float>(batch.row(2).begin(), batch.row(2).end()));
}

TEST(Preprocessor, TransformNamesAMissingOrChangedColumn) {
  Preprocessor p;
  p.fit(original_schema());
  Dataset missing = original_schema();
  missing.columns.erase(missing.columns.begin() + 1);
  missing.files = {"test.csv"};
  EXPECT_THAT([&] { (void)p.transform(missing); },
              ::testing::ThrowsMessage<core::Error>(
                  "data (test.csv) lacks column \"PacketCount\" that the model was trained with"));
  Dataset changed = original_schema();
  changed.columns[3] = numeric("Protocol", {6, 17, 6});
  EXPECT_THAT([&] { (void)p.transform(changed); },
              ::testing::ThrowsMessage<core::Error>(
                  "column \"Protocol\" is numeric in the data but was categorical in training"));
}

TEST(Preprocessor, WorksEndToEndOnLoadedCsv) {
  testing::TempDir dir;
  const auto path =
      dir.write("orig.csv",
                "Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                "1.5,10,1000,51000,443,TCP,Normal\n"
                "0.1,200,12000,40000,80,UDP,Attack\n"
                ",1,60,1234,53,ICMP,Normal\n");
  const std::vector<std::string> paths{path};
  const Dataset ds = load_csv(paths);
  Preprocessor p;
  p.fit(ds);
  const Matrix m = p.transform(ds);
  EXPECT_EQ(m.cols, p.output_size());
  for (float v : m.values) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace netsentry::data
