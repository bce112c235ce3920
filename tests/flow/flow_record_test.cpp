#include "flow/flow_record.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace netsentry::flow {
namespace {

std::filesystem::path datasets_dir() {
  if (const char* env = std::getenv("NETSENTRY_DATASETS")) return env;
  return std::filesystem::path(NETSENTRY_SOURCE_DIR) / ".." / "shared" / "datasets";
}

TEST(FlowRecord, CicNamesMatchTheCorrectedCicIds2017Header) {
  const auto csv = datasets_dir() / "cicids2017-improved-sample" / "BENIGN_5000.csv";
  std::ifstream in(csv);
  if (!in) GTEST_SKIP() << "dataset not found: " << csv;
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  std::vector<std::string> features;
  std::string column;
  for (std::size_t i = 0; i <= header.size(); ++i) {
    if (i == header.size() || header[i] == ',') {
      features.push_back(column);
      column.clear();
    } else {
      column += header[i];
    }
  }
  // Identifier columns: id, Flow ID, Src IP, Src Port, Dst IP, Dst Port, Protocol, Timestamp
  // first; Label and Attempted Category last.
  ASSERT_EQ(features.size(), 8 + kCicFeatureCount + 2);
  EXPECT_EQ(features[7], "Timestamp");
  EXPECT_EQ(features[8 + kCicFeatureCount], "Label");
  const auto names = cic_feature_names();
  for (std::size_t i = 0; i < kCicFeatureCount; ++i) {
    EXPECT_EQ(names[i], features[8 + i]) << "column " << i;
  }
}

TEST(FlowRecord, CicFeatureIndexFindsExactNamesOnly) {
  EXPECT_EQ(cic_feature_index("Flow Duration"), 0u);
  EXPECT_EQ(cic_feature_index("Total TCP Flow Time"), kCicFeatureCount - 1);
  EXPECT_EQ(cic_feature_index("FWD Init Win Bytes"),
            static_cast<std::size_t>(CicFeature::kFwdInitWinBytes));
  EXPECT_FALSE(cic_feature_index("flow duration").has_value());
}

TEST(FlowRecord, ProtocolNamesAreCicStyleOrTheNumber) {
  EXPECT_EQ(protocol_name(6), "TCP");
  EXPECT_EQ(protocol_name(17), "UDP");
  EXPECT_EQ(protocol_name(1), "ICMP");
  EXPECT_EQ(protocol_name(58), "ICMPv6");
  EXPECT_EQ(protocol_name(47), "47");
  EXPECT_EQ(protocol_name(0), "0");
  EXPECT_EQ(protocol_name(255), "255");
}

TEST(FlowRecord, EndReasonsHaveStableNames) {
  EXPECT_EQ(end_reason_name(EndReason::kIdle), "idle");
  EXPECT_EQ(end_reason_name(EndReason::kActive), "active");
  EXPECT_EQ(end_reason_name(EndReason::kFin), "fin");
  EXPECT_EQ(end_reason_name(EndReason::kRst), "rst");
  EXPECT_EQ(end_reason_name(EndReason::kEvicted), "evicted");
  EXPECT_EQ(end_reason_name(EndReason::kEndOfInput), "end_of_input");
}

}  // namespace
}  // namespace netsentry::flow
