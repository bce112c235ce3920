#include "flow/flow_format.h"

#include <gtest/gtest.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
namespace tf = net::tcp_flag;

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == sep) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// A small UDP exchange: client 35 bytes at kT0, server 51 bytes 245 us later.
FlowRecord dns_like_flow() {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(udp(kT0, kClient, kServer, 35));
  table.add(udp(kT0 + 245 * kUs, kServer, kClient, 51));
  table.flush();
  return sink.records.at(0);
}

TEST(FlowFormat, ColumnsStartWithIdentityThenSeedThenCicThenPackets) {
  const auto columns = flow_columns();
  ASSERT_EQ(columns.size(), 15 + kCicFeatureCount + 1);
  EXPECT_EQ(columns[0], "start_time");
  EXPECT_EQ(columns[8], "end_reason");
  EXPECT_EQ(columns[9], "Duration");
  EXPECT_EQ(columns[14], "Protocol");
  EXPECT_EQ(columns[15], "Flow Duration");
  EXPECT_EQ(columns[15 + kCicFeatureCount - 1], "Total TCP Flow Time");
  EXPECT_EQ(columns.back(), "packets");
}

TEST(FlowFormat, CsvRowHasOneFieldPerHeaderColumnAndUnquotedValues) {
  std::string header;
  append_csv_header(header);
  std::string row;
  append_csv_row(dns_like_flow(), row);
  ASSERT_EQ(header.back(), '\n');
  ASSERT_EQ(row.back(), '\n');
  header.pop_back();
  row.pop_back();
  const auto names = split(header, ',');
  const auto fields = split(row, ',');
  ASSERT_EQ(names.size(), flow_columns().size());
  ASSERT_EQ(fields.size(), names.size());
  EXPECT_EQ(row.find('"'), std::string::npos);

  const auto field = [&](std::string_view name) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return fields[i];
    }
    ADD_FAILURE() << "no column " << name;
    return std::string();
  };
  EXPECT_EQ(field("start_time"), "2017-07-06T12:39:06.818901Z");
  EXPECT_EQ(field("end_time"), "2017-07-06T12:39:06.819146Z");
  EXPECT_EQ(field("src_ip"), "192.168.10.5");
  EXPECT_EQ(field("src_port"), "51000");
  EXPECT_EQ(field("dst_ip"), "10.0.0.80");
  EXPECT_EQ(field("ip_proto"), "17");
  EXPECT_EQ(field("end_reason"), "end_of_input");
  EXPECT_EQ(field("Duration"), "0.000245");
  EXPECT_EQ(field("PacketCount"), "2");
  EXPECT_EQ(field("ByteCount"), "170");  // 2 * (14 + 20 + 8) + 35 + 51
  EXPECT_EQ(field("Protocol"), "UDP");
  EXPECT_EQ(field("Flow Duration"), "245");
  EXPECT_EQ(field("Packet Length Mean"), "43");
  EXPECT_EQ(field("Bwd Init Win Bytes"), "0");
  EXPECT_EQ(field("ICMP Type"), "-1");
  EXPECT_EQ(field("packets"), "35:1:0:0|51:-1:245:0");
  // Rates are printed in shortest round-trip form: parsing gives back the exact double.
  double rate = 0;
  const std::string text = field("Flow Bytes/s");
  std::from_chars(text.data(), text.data() + text.size(), rate);
  EXPECT_EQ(rate, dns_like_flow()[CicFeature::kFlowBytesPerSec]);
}

TEST(FlowFormat, CsvFieldsAreQuotedOnlyWhenNeeded) {
  std::string out;
  append_csv_field("plain", out);
  out += ';';
  append_csv_field("a,b", out);
  out += ';';
  append_csv_field("say \"hi\"", out);
  out += ';';
  append_csv_field("two\nlines", out);
  EXPECT_EQ(out, "plain;\"a,b\";\"say \"\"hi\"\"\";\"two\nlines\"");
}

TEST(FlowFormat, JsonLineIsOneObjectWithNumbersAsNumbersAndPacketsAsArray) {
  std::string line;
  append_jsonl(dns_like_flow(), line);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json.size(), flow_columns().size());
  EXPECT_EQ(json["src_ip"], "192.168.10.5");
  EXPECT_EQ(json["Protocol"], "UDP");
  EXPECT_TRUE(json["Flow Duration"].is_number());
  EXPECT_EQ(json["Flow Duration"].get<double>(), 245);
  EXPECT_EQ(json["Total Bwd packets"].get<double>(), 1);
  EXPECT_EQ(json["packets"], nlohmann::json::parse("[[35,1,0,0],[51,-1,245,0]]"));
}

TEST(FlowFormat, TimestampsAreUtcWithMicroseconds) {
  std::string out;
  append_timestamp_utc(0, out);
  out += ' ';
  append_timestamp_utc(951'782'400'123'456'789, out);  // 2000-02-29 00:00:00.123456789
  out += ' ';
  append_timestamp_utc(-1'000, out);  // one microsecond before the epoch
  EXPECT_EQ(out,
            "1970-01-01T00:00:00.000000Z 2000-02-29T00:00:00.123456Z "
            "1969-12-31T23:59:59.999999Z");
}

TEST(FlowFormat, Ipv6AddressesUseTheCompressedForm) {
  net::IpAddress ip;
  ip.family = 6;
  ip.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::string out;
  append_ip(ip, out);
  EXPECT_EQ(out, "2001:db8::1");
}

TEST(FlowFormat, NumbersAreCompactAndNeverNonFinite) {
  std::string out;
  append_number(3.0, out);
  out += ' ';
  append_number(0.1, out);
  out += ' ';
  append_number(-0.0, out);
  out += ' ';
  append_number(std::numeric_limits<double>::infinity(), out);
  EXPECT_EQ(out, "3 0.1 0 0");
}

TEST(FlowFormat, NamedCicFeaturesFollowCicOrder) {
  const FlowRecord r = dns_like_flow();
  const auto named = cic_named_features(r);
  ASSERT_EQ(named.size(), kCicFeatureCount);
  EXPECT_EQ(named[0].first, "Flow Duration");
  EXPECT_EQ(named[0].second, 245);
  EXPECT_EQ(cic_features(r).data(), r.cic.data());
}

}  // namespace
}  // namespace netsentry::flow
