#include "flow/flow_format.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
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

TEST(FlowFormat, ColumnsStartWithIdentityThenSeedThenCicThenPacketsThenInteroperable) {
  const auto columns = flow_columns();
  ASSERT_EQ(columns.size(), 15 + kCicFeatureCount + 1 + 6);
  EXPECT_EQ(columns[0], "start_time");
  EXPECT_EQ(columns[8], "end_reason");
  EXPECT_EQ(columns[9], "Duration");
  EXPECT_EQ(columns[14], "Protocol");
  EXPECT_EQ(columns[15], "Flow Duration");
  EXPECT_EQ(columns[15 + kCicFeatureCount - 1], "Total TCP Flow Time");
  EXPECT_EQ(columns[15 + kCicFeatureCount], "packets");
  // New columns go at the end, so readers by name and trained bundles are unaffected.
  EXPECT_EQ(columns[15 + kCicFeatureCount + 1], "community_id");
  EXPECT_EQ(columns[15 + kCicFeatureCount + 2], "orig_ip_bytes");
  EXPECT_EQ(columns[15 + kCicFeatureCount + 3], "resp_ip_bytes");
  EXPECT_EQ(columns[15 + kCicFeatureCount + 4], "conn_state");
  EXPECT_EQ(columns[15 + kCicFeatureCount + 5], "history");
  EXPECT_EQ(columns.back(), "tunnel_parent");
}

TEST(FlowFormat, InteroperableColumnsInCsvAndJson) {
  FlowRecord r = dns_like_flow();
  r.community_id = net::community_id(kClient.ip, kServer.ip, 17, kClient.port, kServer.port);
  r.tunnel_parent = net::community_id(kServer.ip, kClient.ip, 47, 0, 0);
  r.conn_state = ConnState::kSF;
  r.history = History{};
  r.history.push('D');
  r.history.push('d');
  r.orig_ip_bytes = 63;
  r.resp_ip_bytes = 79;
  std::string csv;
  append_csv_row(r, csv);
  std::string tail = ",";
  tail += r.community_id.to_string();
  tail += ",63,79,SF,Dd,";
  tail += r.tunnel_parent.to_string();
  tail += '\n';
  ASSERT_GE(csv.size(), tail.size());
  EXPECT_EQ(csv.substr(csv.size() - tail.size()), tail);
  std::string json;
  append_jsonl(r, json);
  EXPECT_NE(json.find("\"community_id\":\"" + r.community_id.to_string() + "\""),
            std::string::npos);
  EXPECT_NE(json.find("\"orig_ip_bytes\":63,\"resp_ip_bytes\":79,\"conn_state\":\"SF\","
                      "\"history\":\"Dd\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"tunnel_parent\":\"1:"), std::string::npos);
  EXPECT_EQ(json.back(), '\n');
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

// The formatting before it was optimised (snprintf, inet_ntop, to_chars on every double): the
// fast writers must produce exactly these bytes.
namespace reference {

std::string timestamp(std::int64_t ns) {
  const auto floor_div = [](std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  };
  const std::int64_t us = floor_div(ns, 1000);
  const std::int64_t secs = floor_div(us, 1'000'000);
  const std::int64_t micros = us - secs * 1'000'000;
  std::int64_t z = floor_div(secs, 86'400);
  const std::int64_t sod = secs - z * 86'400;
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[48];
  const int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                              static_cast<long long>(y), m, d, static_cast<long long>(sod / 3600),
                              static_cast<long long>(sod / 60 % 60),
                              static_cast<long long>(sod % 60), static_cast<long long>(micros));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string number(double value) {
  if (!std::isfinite(value) || value == 0) return "0";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), value).ptr);
}

std::string ip(const net::IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN];
  const int family = ip.family == 6 ? AF_INET6 : ip.family == 4 ? AF_INET : 0;
  if (family == 0 || inet_ntop(family, ip.bytes.data(), buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

// The CSV row as the generic per-column code wrote it.
std::string csv_row(const FlowRecord& r) {
  std::vector<std::string> f = {timestamp(r.start_ns),
                                timestamp(r.end_ns),
                                ip(r.src_ip),
                                number(r.src_port),
                                ip(r.dst_ip),
                                number(r.dst_port),
                                number(r.ip_proto),
                                number(r.vlan),
                                std::string(end_reason_name(r.end_reason)),
                                number(r.duration_s),
                                number(static_cast<double>(r.packet_count)),
                                number(static_cast<double>(r.byte_count)),
                                number(r.src_port),
                                number(r.dst_port),
                                std::string(r.protocol())};
  for (double v : r.cic) f.push_back(number(v));
  std::string packets;
  for (std::size_t i = 0; i < r.first_packets.size(); ++i) {
    const PacketSummary& p = r.first_packets[i];
    if (i > 0) packets += '|';
    packets += std::to_string(p.size) + ':' + std::to_string(p.direction) + ':' +
               std::to_string(p.iat_us) + ':' + std::to_string(p.tcp_flags);
  }
  f.push_back(packets);
  f.push_back(r.community_id.to_string());
  f.push_back(std::to_string(r.orig_ip_bytes));
  f.push_back(std::to_string(r.resp_ip_bytes));
  f.push_back(std::string(conn_state_name(r.conn_state)));
  f.push_back(std::string(r.history.view()));
  f.push_back(r.tunnel_parent.to_string());
  std::string row;
  for (std::size_t i = 0; i < f.size(); ++i) row += (i ? "," : "") + f[i];
  return row + '\n';
}

}  // namespace reference

// Values of every shape the features take: small and huge integers, round numbers (100000 prints
// as 1e+05), fractions, tiny and negative values.
double random_number(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return static_cast<double>(rng() % 1000);
    case 1:
      return static_cast<double>(static_cast<std::int64_t>(rng() % 2'000'000'000'000ULL) -
                                 1'000'000'000'000LL);
    case 2:
      return static_cast<double>(rng() % 100) * std::pow(10.0, static_cast<int>(rng() % 20));
    case 3:
      return -static_cast<double>(rng() % 10) * std::pow(10.0, static_cast<int>(rng() % 17));
    case 4:
      return std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 120) - 90);
    case 5:
      return static_cast<double>(rng() % 100000) / 1000.0;
    case 6:
      return std::bit_cast<double>(rng());  // any bit pattern, NaN and infinities included
    default:
      return static_cast<double>(rng() >> (rng() % 64));
  }
}

net::IpAddress random_ip(std::mt19937_64& rng) {
  net::IpAddress ip;
  const unsigned kind = rng() % 4;
  ip.family = kind == 0 ? 6 : kind == 3 ? 0 : 4;
  const std::size_t n = ip.family == 6 ? 16 : ip.family == 4 ? 4 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    ip.bytes[i] = rng() % 3 == 0 ? 0 : static_cast<std::uint8_t>(rng() % (rng() % 2 ? 10 : 256));
  }
  return ip;
}

TEST(FlowFormat, FastNumbersMatchToCharsOnManyValues) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500'000; ++i) {
    const double v = random_number(rng);
    std::string out;
    append_number(v, out);
    ASSERT_EQ(out, reference::number(v)) << "value bits " << std::bit_cast<std::uint64_t>(v);
  }
  for (double v : {1e15, 1e15 - 1, 9007199254740992.0, 100000.0, 10000.0, -100000.0, 120000.0, 1e22,
                   123456789012345.0, -0.5, 5e-324}) {
    std::string out;
    append_number(v, out);
    EXPECT_EQ(out, reference::number(v)) << v;
  }
}

TEST(FlowFormat, FastTimestampsMatchSnprintfOverTheWholeInt64Range) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 300'000; ++i) {
    std::int64_t ns = static_cast<std::int64_t>(rng());
    if (i % 2) ns = kT0 + static_cast<std::int64_t>(rng() % (400ULL * 86'400 * kSec));
    std::string out;
    append_timestamp_utc(ns, out);
    ASSERT_EQ(out, reference::timestamp(ns)) << ns;
  }
  for (std::int64_t ns :
       {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
        std::int64_t{0}, std::int64_t{-1}, std::int64_t{999}, std::int64_t{-86'400} * kSec}) {
    std::string out;
    append_timestamp_utc(ns, out);
    EXPECT_EQ(out, reference::timestamp(ns)) << ns;
  }
}

TEST(FlowFormat, FastAddressesMatchInetNtop) {
  std::mt19937_64 rng(13);
  for (int i = 0; i < 100'000; ++i) {
    const net::IpAddress ip = random_ip(rng);
    std::string out;
    append_ip(ip, out);
    ASSERT_EQ(out, reference::ip(ip));
  }
}

TEST(FlowFormat, CsvRowsMatchTheGenericFormatterOnRandomRecords) {
  std::mt19937_64 rng(17);
  for (int i = 0; i < 3'000; ++i) {
    FlowRecord r;
    r.start_ns = static_cast<std::int64_t>(rng());
    r.end_ns = kT0 + static_cast<std::int64_t>(rng() % (1000ULL * kSec));
    r.src_ip = random_ip(rng);
    r.dst_ip = random_ip(rng);
    r.src_port = static_cast<std::uint16_t>(rng());
    r.dst_port = static_cast<std::uint16_t>(rng());
    r.ip_proto = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() : 6);
    r.vlan = static_cast<std::uint16_t>(rng() % 4096);
    r.end_reason = static_cast<EndReason>(rng() % kEndReasonCount);
    r.duration_s = random_number(rng);
    r.packet_count = rng() >> (rng() % 64);
    r.byte_count = rng() >> (rng() % 64);
    for (double& v : r.cic) v = rng() % 3 == 0 ? 0.0 : random_number(rng);
    r.first_packets.resize(rng() % 3 == 0 ? rng() % 400 : rng() % 20);
    for (PacketSummary& p : r.first_packets) {
      p.size = static_cast<std::uint32_t>(rng() >> (rng() % 64));
      p.iat_us = static_cast<std::uint32_t>(rng() >> (rng() % 64));
      p.direction = rng() % 2 ? 1 : -1;
      p.tcp_flags = static_cast<std::uint8_t>(rng());
    }
    std::string row = "previous,";
    append_csv_row(r, row);
    ASSERT_EQ(row, "previous," + reference::csv_row(r)) << "record " << i;
  }
}

}  // namespace
}  // namespace netsentry::flow
