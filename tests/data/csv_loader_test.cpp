#include "data/csv_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/temp_csv.h"

namespace netsentry::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

Dataset load_one(const std::string& path, const LoadOptions& opt = {}, LoadReport* rep = nullptr) {
  const std::vector<std::string> paths{path};
  return load_csv(paths, opt, rep);
}

// Runs `fn` and returns the core::Error message it throws ("" when it does not throw).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> texts(const Column& c) {
  std::vector<std::string> out;
  for (std::size_t r = 0; r < c.codes.size(); ++r) out.emplace_back(c.text(r));
  return out;
}

constexpr std::string_view kNslRows =
    "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,"
    "0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20\n"
    "0,udp,other,SF,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,13,1,0.00,0.00,0.00,0.00,0.08,0.15,"
    "0.00,255,1,0.00,0.60,0.88,0.00,0.00,0.00,0.00,0.00,normal,15\n"
    "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,"
    "0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19\n";

TEST(CsvLoader, ReadsHeaderlessNslKddAndDropsDifficulty) {
  TempDir dir;
  LoadReport rep;
  const Dataset ds = load_one(dir.write("kdd.txt", kNslRows), {}, &rep);
  EXPECT_EQ(ds.format, "nsl-kdd");
  EXPECT_EQ(rep.format, Format::kNslKdd);
  ASSERT_EQ(ds.rows(), 3u);
  ASSERT_EQ(ds.columns.size(), 41u);
  EXPECT_EQ(ds.columns[0].name, "duration");
  EXPECT_EQ(ds.find("difficulty"), nullptr);
  EXPECT_THAT(ds.y, ElementsAre(0, 0, 1));
  EXPECT_EQ(ds.class_name(2), "neptune");
  const Column* proto = ds.find("protocol_type");
  ASSERT_NE(proto, nullptr);
  EXPECT_EQ(proto->kind, ColumnKind::kCategorical);
  EXPECT_THAT(texts(*proto), ElementsAre("tcp", "udp", "tcp"));
  EXPECT_FLOAT_EQ(ds.find("src_bytes")->values[0], 491.0f);
  EXPECT_FLOAT_EQ(ds.find("dst_host_srv_count")->values[2], 26.0f);
  EXPECT_EQ(ds.origin[2].line, 3u);
}

TEST(CsvLoader, ReadsOriginalSchemaWithAttackAsPositive) {
  TempDir dir;
  const auto path =
      dir.write("orig.csv",
                "Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                "1.5,10,1000,51000,443,TCP,Normal\n"
                "0.1,200,12000,40000,80,6,Attack\n"
                "0,1,60,1234,53,udp,Normal\n");
  const Dataset ds = load_one(path);
  EXPECT_EQ(ds.format, "original");
  EXPECT_EQ(ds.column_names(), (std::vector<std::string>{"Duration", "PacketCount", "ByteCount",
                                                         "DestinationPort", "Protocol"}));
  EXPECT_THAT(ds.y, ElementsAre(0, 1, 0));
  // "TCP" and "6" are one protocol.
  EXPECT_THAT(texts(*ds.find("Protocol")), ElementsAre("tcp", "tcp", "udp"));
  EXPECT_TRUE(ds.timestamp.empty());
}

TEST(CsvLoader, ReadsCorrectedCicWithMissingAndInfiniteValues) {
  TempDir dir;
  const auto path = dir.write(
      "cic.csv",
      "id,Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,"
      "Total Fwd Packet,Total Bwd packets,Flow Bytes/s,FWD Init Win Bytes,Label,Attempted "
      "Category\n"
      "1,a-b,192.168.10.5,53709,10.0.0.1,8080,6,2017-07-07 13:39:36.5,81379,5,4,Infinity,8192,"
      "BENIGN,-1\n"
      "2,a-c,192.168.10.9,53710,10.0.0.1,80,17,2017-07-07 13:39:30,65872,5,4,NaN,,DDoS,-1\n"
      "3,a-d,192.168.10.5,53711,10.0.0.1,80,6,2017-07-07 13:40:00,100,1,0,-Infinity,0,DDoS,-1\n");
  LoadReport rep;
  const Dataset ds = load_one(path, {}, &rep);
  EXPECT_EQ(ds.format, "cicids2017");
  EXPECT_EQ(ds.column_names(),
            (std::vector<std::string>{"Dst Port", "Protocol", "Flow Duration", "Total Fwd Packet",
                                      "Total Bwd packets", "Flow Bytes/s", "FWD Init Win Bytes"}));
  EXPECT_THAT(ds.y, ElementsAre(0, 1, 1));
  EXPECT_THAT(ds.class_names, ElementsAre("BENIGN", "DDoS"));
  // Groups are source hosts.
  EXPECT_THAT(ds.group, ElementsAre(0, 1, 0));
  EXPECT_THAT(ds.group_names, ElementsAre("192.168.10.5", "192.168.10.9"));
  // 2017-07-07 00:00:00 UTC is 1499385600.
  ASSERT_EQ(ds.timestamp.size(), 3u);
  EXPECT_DOUBLE_EQ(ds.timestamp[0], 1499385600.0 + 13 * 3600 + 39 * 60 + 36.5);
  EXPECT_THAT(ds.time_order(), ElementsAre(1, 0, 2));
  const Column* rate = ds.find("Flow Bytes/s");
  for (float v : rate->values) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isnan(ds.find("FWD Init Win Bytes")->values[1]));
  ASSERT_EQ(rep.columns.size(), 2u);
  EXPECT_EQ(rep.columns[0].name, "Flow Bytes/s");
  EXPECT_EQ(rep.columns[0].non_finite, 3u);
  EXPECT_EQ(rep.columns[1].name, "FWD Init Win Bytes");
  EXPECT_EQ(rep.columns[1].empty, 1u);
  EXPECT_THAT(rep.summary(), HasSubstr("3 rows"));
}

constexpr std::string_view kCic2017Header =
    " Destination Port, Flow Duration, Total Fwd Packets, Total Backward Packets,"
    "Total Length of Fwd Packets, Fwd Header Length, Fwd Header Length,Init_Win_bytes_forward,"
    " min_seg_size_forward, CWE Flag Count, Label\r\n";

TEST(CsvLoader, MapsCic2017SpellingToCorrectedNames) {
  TempDir dir;
  const auto path = dir.write("2017.csv", std::string(kCic2017Header) +
                                              "80,1000,3,2,120,64,64,29200,20,0,BENIGN\r\n"
                                              "443,5,1,1,0,32,32,-1,32,1,DoS Hulk\r\n");
  LoadReport rep;
  const Dataset ds = load_one(path, {}, &rep);
  EXPECT_EQ(ds.format, "cicids2017");
  EXPECT_EQ(ds.column_names(),
            (std::vector<std::string>{"Dst Port", "Flow Duration", "Total Fwd Packet",
                                      "Total Bwd packets", "Total Length of Fwd Packet",
                                      "Fwd Header Length", "FWD Init Win Bytes", "Fwd Seg Size Min",
                                      "CWR Flag Count"}));
  EXPECT_THAT(ds.y, ElementsAre(0, 1));
  EXPECT_THAT(ds.class_names, ElementsAre("BENIGN", "DoS Hulk"));
  EXPECT_FLOAT_EQ(ds.find("FWD Init Win Bytes")->values[1], -1.0f);
  EXPECT_FLOAT_EQ(ds.find("CWR Flag Count")->values[1], 1.0f);
  ASSERT_EQ(rep.ignored_duplicates.size(), 1u);
  EXPECT_THAT(rep.ignored_duplicates[0], HasSubstr("\"Fwd Header Length\" (field 7)"));
  EXPECT_THAT(rep.renamed, ::testing::Contains("Total Backward Packets -> Total Bwd packets"));
}

TEST(CsvLoader, ConcatenatesBothCicSpellingsAsOneSchema) {
  TempDir dir;
  const auto a = dir.write("a.csv",
                           "Dst Port,Flow Duration,Total Fwd Packet,Total Bwd packets,"
                           "FWD Init Win Bytes,Label\n80,10,1,1,100,BENIGN\n");
  // Same columns, 2017 spelling, different order.
  const auto b = dir.write("b.csv",
                           " Label,Init_Win_bytes_forward, Destination Port, Flow Duration,"
                           " Total Backward Packets, Total Fwd Packets\nPortScan,200,22,20,0,1\n");
  const std::vector<std::string> paths{a, b};
  const Dataset ds = load_csv(paths);
  ASSERT_EQ(ds.rows(), 2u);
  EXPECT_FLOAT_EQ(ds.find("FWD Init Win Bytes")->values[1], 200.0f);
  EXPECT_FLOAT_EQ(ds.find("Dst Port")->values[1], 22.0f);
  EXPECT_FLOAT_EQ(ds.find("Total Bwd packets")->values[1], 0.0f);
  EXPECT_THAT(ds.y, ElementsAre(0, 1));
  EXPECT_EQ(ds.origin[1].file, 1u);
  EXPECT_EQ(ds.where(1), b + ":2");
}

TEST(CsvLoader, ExpandsGlobsInSortedOrder) {
  TempDir dir;
  dir.write("part2.csv", "x,Label\n2,0\n");
  dir.write("part1.csv", "x,Label\n1,1\n");
  LoadOptions opt;
  opt.label_column = "Label";
  const std::vector<std::string> paths{(dir.path() / "part*.csv").string()};
  const Dataset ds = load_csv(paths, opt);
  ASSERT_EQ(ds.rows(), 2u);
  EXPECT_FLOAT_EQ(ds.find("x")->values[0], 1.0f);
  EXPECT_THAT(ds.y, ElementsAre(1, 0));
}

TEST(CsvLoader, RejectsFilesWithDifferentColumns) {
  TempDir dir;
  const auto a =
      dir.write("a.csv", "Duration,PacketCount,ByteCount,Protocol,Label\n1,2,3,TCP,Normal\n");
  const auto b =
      dir.write("b.csv", "Duration,PacketCount,ByteCount,Proto,Label\n1,2,3,TCP,Normal\n");
  const std::vector<std::string> paths{a, b};
  EXPECT_EQ(error_of([&] { (void)load_csv(paths); }),
            b + ": columns differ from " + a + ": missing \"Protocol\"; unexpected \"Proto\"");
}

TEST(CsvLoader, ReadsUnswNb15WithAttackCategories) {
  TempDir dir;
  const auto path = dir.write("unsw.csv",
                              "id,dur,proto,service,state,spkts,sbytes,attack_cat,label\n"
                              "1,0.12,tcp,-,FIN,6,258,Normal,0\n"
                              "2,0.64,udp,dns,INT,2,114,Generic,1\n"
                              "3,1.6,tcp,http,FIN,14,800,Exploits,1\n");
  const Dataset ds = load_one(path);
  EXPECT_EQ(ds.format, "unsw-nb15");
  EXPECT_EQ(ds.column_names(),
            (std::vector<std::string>{"dur", "proto", "service", "state", "spkts", "sbytes"}));
  EXPECT_EQ(ds.find("state")->kind, ColumnKind::kCategorical);
  EXPECT_THAT(ds.y, ElementsAre(0, 1, 1));
  EXPECT_THAT(ds.class_names, ElementsAre("Normal", "Generic", "Exploits"));
  EXPECT_THAT(ds.class_code, ElementsAre(0, 1, 2));
}

TEST(CsvLoader, GenericNeedsNamedLabelAndInfersTextColumns) {
  TempDir dir;
  const auto path = dir.write("g.csv",
                              "bytes,host,verdict\n"
                              "10,alpha,ok\n"
                              "20,beta,bad\n"
                              "30,alpha,ok\n");
  LoadOptions opt;
  opt.format = Format::kGeneric;
  opt.label_column = "verdict";
  opt.negative_value = "OK";
  const Dataset ds = load_one(path, opt);
  EXPECT_EQ(ds.column_names(), (std::vector<std::string>{"bytes", "host"}));
  EXPECT_EQ(ds.find("bytes")->kind, ColumnKind::kNumeric);
  EXPECT_EQ(ds.find("host")->kind, ColumnKind::kCategorical);
  EXPECT_THAT(ds.y, ElementsAre(0, 1, 0));

  opt.label_column.clear();
  const Dataset unlabelled = load_one(path, opt);
  EXPECT_FALSE(unlabelled.labelled());
  EXPECT_EQ(unlabelled.columns.size(), 3u);

  opt.label_column = "missing";
  EXPECT_EQ(error_of([&] { (void)load_one(path, opt); }),
            path + ": no label column \"missing\" in the header");
}

TEST(CsvLoader, ParsesQuotedFieldsWithCommasQuotesAndNewlines) {
  TempDir dir;
  const auto path = dir.write("q.csv",
                              "\"bytes\", \"note\" ,Label\n"
                              "1,\"a, b\",0\n"
                              "2,\"say \"\"hi\"\"\",1\n"
                              "3,\"two\nlines\",0\n"
                              "\"4\",plain,1\n");
  LoadOptions opt;
  opt.label_column = "Label";
  const Dataset ds = load_one(path, opt);
  ASSERT_EQ(ds.rows(), 4u);
  ASSERT_NE(ds.find("note"), nullptr);
  EXPECT_THAT(texts(*ds.find("note")), ElementsAre("a, b", "say \"hi\"", "two\nlines", "plain"));
  EXPECT_FLOAT_EQ(ds.find("bytes")->values[3], 4.0f);
  // The record after the embedded newline starts on physical line 6.
  EXPECT_EQ(ds.origin[2].line, 4u);
  EXPECT_EQ(ds.origin[3].line, 6u);
}

TEST(CsvLoader, ReportsNonNumberWithFileLineAndColumn) {
  TempDir dir;
  const auto path = dir.write("bad.csv",
                              "Duration,PacketCount,ByteCount,Protocol,Label\n"
                              "1,2,3,TCP,Normal\n"
                              "1,abc,3,TCP,Normal\n");
  EXPECT_EQ(error_of([&] { (void)load_one(path); }),
            path + ":3:2: \"abc\" is not a number (column \"PacketCount\")");
}

TEST(CsvLoader, ReportsWrongFieldCount) {
  TempDir dir;
  const auto path = dir.write("short.csv",
                              "Duration,PacketCount,ByteCount,Protocol,Label\n"
                              "1,2,3,TCP,Normal\n"
                              "\n"
                              "1,2,TCP,Normal\n");
  EXPECT_EQ(error_of([&] { (void)load_one(path); }), path + ":4: expected 5 fields, found 4");
}

TEST(CsvLoader, SkipsAndCountsBadRowsWhenAsked) {
  TempDir dir;
  const auto path = dir.write("mixed.csv",
                              "Duration,PacketCount,ByteCount,Protocol,Label\n"
                              "1,2,3,TCP,Normal\n"
                              "x,2,3,TCP,Attack\n"
                              "1,2,3\n"
                              "4,5,6,UDP,Attack\n"
                              "7,8,9,UDP,\n"
                              "1,\"2\"oops,3,TCP,Normal\n");
  LoadOptions opt;
  opt.skip_bad_rows = true;
  LoadReport rep;
  const Dataset ds = load_one(path, opt, &rep);
  EXPECT_EQ(ds.rows(), 2u);
  EXPECT_THAT(ds.y, ElementsAre(0, 1));
  EXPECT_EQ(rep.bad_rows, 4u);
  ASSERT_EQ(rep.bad_row_examples.size(), 4u);
  EXPECT_EQ(rep.bad_row_examples[0], path + ":3:1: \"x\" is not a number (column \"Duration\")");
  EXPECT_EQ(rep.bad_row_examples[2], path + ":6: empty label (column \"Label\")");
  EXPECT_EQ(rep.bad_row_examples[3], path + ":7:2: unexpected text after a closing quote");
  EXPECT_THAT(rep.summary(), HasSubstr("4 bad row(s) skipped"));
}

TEST(CsvLoader, ReadsFlowsOutputAndDropsIdentifiers) {
  TempDir dir;
  const auto path = dir.write(
      "flows.csv",
      "start_time,end_time,src_ip,src_port,dst_ip,dst_port,protocol,vlan,end_reason,Duration,"
      "PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Flow Duration,Total Fwd Packet,"
      "packets,Label\n"
      "1700000001.5,1700000002,10.0.0.2,40000,10.0.0.1,22,tcp,0,fin,0.5,4,300,40000,22,TCP,500000,"
      "2,"
      "0:1:0:2|0:-1:310:18|48:1:2500:24,SSH-Patator\n"
      "1700000000.0,1700000001,10.0.0.3,40001,10.0.0.1,53,udp,0,idle,1.0,2,120,40001,53,UDP,"
      "1000000,"
      "1,,BENIGN\n");
  const Dataset ds = load_one(path);
  EXPECT_EQ(ds.format, "flows");
  EXPECT_EQ(ds.column_names(),
            (std::vector<std::string>{"Duration", "PacketCount", "ByteCount", "DestinationPort",
                                      "Protocol", "Flow Duration", "Total Fwd Packet"}));
  EXPECT_THAT(ds.y, ElementsAre(1, 0));
  EXPECT_THAT(ds.group_names, ElementsAre("10.0.0.2", "10.0.0.3"));
  EXPECT_THAT(ds.time_order(), ElementsAre(1, 0));
  // The first packets, as sequence models read them; the second flow kept none.
  ASSERT_TRUE(ds.has_packets());
  EXPECT_THAT(ds.packets_of(0), ElementsAre(PacketStep{0, 0, 1, 2}, PacketStep{0, 310, -1, 18},
                                            PacketStep{48, 2500, 1, 24}));
  EXPECT_TRUE(ds.packets_of(1).empty());
  const Dataset reordered = ds.select_rows(ds.time_order());
  EXPECT_TRUE(reordered.packets_of(0).empty());
  EXPECT_EQ(reordered.packets_of(1).size(), 3u);
  EXPECT_EQ(reordered.sequences().rows(), 2u);
}

TEST(CsvLoader, NamesAMalformedPacketSequence) {
  TempDir dir;
  const std::string header =
      "start_time,end_time,src_ip,src_port,dst_ip,dst_port,protocol,vlan,end_reason,Duration,"
      "PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,packets,Label\n";
  const std::string row =
      "1700000000,1700000001,10.0.0.3,40001,10.0.0.1,53,udp,0,idle,1,2,120,"
      "40001,53,UDP,";
  for (const char* bad : {"60", "60:1:0", "60:2:0:0", "60:1:x:0", "60:1:0:256", "60:1:0:0|"}) {
    const auto path = dir.write("bad.csv", header + row + bad + ",BENIGN\n");
    const std::string e = error_of([&] { (void)load_one(path); });
    EXPECT_THAT(e, HasSubstr(path + ":2:16: packet")) << bad;
    EXPECT_THAT(e, HasSubstr("(column \"packets\")")) << bad;
  }
}

TEST(CsvLoader, ExplainsMissingFilesAndEmptyGlobs) {
  TempDir dir;
  const std::string missing = (dir.path() / "nope.csv").string();
  EXPECT_EQ(error_of([&] { (void)load_one(missing); }),
            missing + ": cannot open: No such file or directory");
  const std::vector<std::string> glob{(dir.path() / "*.csv").string()};
  EXPECT_EQ(error_of([&] { (void)load_csv(glob); }), glob[0] + ": no file matches this pattern");
  const auto empty = dir.write("empty.csv", "");
  EXPECT_EQ(error_of([&] { (void)load_one(empty); }), empty + ": file is empty");
}

TEST(CsvLoader, StopsAfterMaxRows) {
  TempDir dir;
  LoadOptions opt;
  opt.max_rows = 2;
  const Dataset ds = load_one(dir.write("kdd.txt", kNslRows), opt);
  EXPECT_EQ(ds.rows(), 2u);
  EXPECT_EQ(ds.y.size(), 2u);
}

TEST(CsvLoader, CustomDropListReplacesTheDefault) {
  TempDir dir;
  const auto path =
      dir.write("orig.csv",
                "Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                "1.5,10,1000,51000,443,TCP,Normal\n");
  LoadOptions opt;
  opt.drop_columns = std::vector<std::string>{"DestinationPort", "Protocol"};
  const Dataset ds = load_one(path, opt);
  EXPECT_EQ(ds.column_names(),
            (std::vector<std::string>{"Duration", "PacketCount", "ByteCount", "SourcePort"}));
}

TEST(CanonicalColumnName, MapsEverySpellingToTheCorrectedName) {
  EXPECT_EQ(canonical_column_name(" Total Backward Packets"), "Total Bwd packets");
  EXPECT_EQ(canonical_column_name("Total Bwd Packets"), "Total Bwd packets");
  EXPECT_EQ(canonical_column_name("Init_Win_bytes_backward"), "Bwd Init Win Bytes");
  EXPECT_EQ(canonical_column_name("Tot Fwd Pkts"), "Total Fwd Packet");
  EXPECT_EQ(canonical_column_name("Destination Port"), "Dst Port");
  EXPECT_EQ(canonical_column_name("Avg Bwd Segment Size"), "Bwd Segment Size Avg");
  EXPECT_EQ(canonical_column_name("  my column "), "my column");
}

TEST(CanonicalProtocol, UnifiesNamesAndNumbers) {
  EXPECT_EQ(canonical_protocol("TCP"), "tcp");
  EXPECT_EQ(canonical_protocol(" 17 "), "udp");
  EXPECT_EQ(canonical_protocol("1"), "icmp");
  EXPECT_EQ(canonical_protocol("OSPF"), "ospf");
  EXPECT_EQ(canonical_protocol("0"), "0");
}

TEST(ParseFormat, AcceptsCliNames) {
  EXPECT_EQ(parse_format("nsl-kdd"), Format::kNslKdd);
  EXPECT_EQ(parse_format("CIC"), Format::kCicIds2017);
  EXPECT_EQ(parse_format("unsw-nb15"), Format::kUnswNb15);
  EXPECT_EQ(parse_format("bogus"), std::nullopt);
  EXPECT_EQ(to_string(Format::kFlows), "flows");
}

}  // namespace
}  // namespace netsentry::data

namespace netsentry::data {
namespace {

TEST(CsvLoaderLimits, RefusesDuplicateHeaderNamesWithTheirPosition) {
  TempDir dir;
  const std::string path = dir.write("dup.csv", "a,b,a,label\n1,2,3,0\n");
  LoadOptions opt;
  opt.label_column = "label";
  EXPECT_EQ(error_of([&] { (void)load_one(path, opt); }),
            path + ":1:3: column \"a\" repeats column 1; rename one of them");
}

TEST(CsvLoaderLimits, AHundredThousandColumnHeaderLoadsInLinearTime) {
  TempDir dir;
  std::string header;
  std::string row;
  for (int i = 0; i < 100'000; ++i) {
    header += "c" + std::to_string(i) + ",";
    row += "1,";
  }
  const std::string path = dir.write("wide.csv", header + "label\n" + row + "0\n");
  LoadOptions opt;
  opt.label_column = "label";
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset ds = load_one(path, opt);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ds.columns.size(), 100'000U);
  // Quadratic header matching took 44 s here; linear takes well under one. A generous bound
  // that only a quadratic pass breaks, even on a loaded machine.
  EXPECT_LT(seconds, 15.0);
}

TEST(CsvLoaderLimits, AnEndlessLineFromADeviceIsRefused) {
  EXPECT_EQ(error_of([&] { (void)load_one("/dev/zero"); }),
            "/dev/zero:1: line longer than 16 MiB; is this a CSV file?");
}

TEST(CsvLoaderLimits, MessagesEscapeControlBytes) {
  TempDir dir;
  const std::string path =
      dir.write("ctl.csv",
                "Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                "1,\x1b[31mred,3,4,5,TCP,Normal\n");
  const std::string e = error_of([&] { (void)load_one(path); });
  EXPECT_THAT(e, HasSubstr("\\x1b[31mred"));
  EXPECT_EQ(e.find('\x1b'), std::string::npos) << e;
}

TEST(CsvLoaderLimits, LabelsThatAreNotUtf8BecomeReplacementCharacters) {
  TempDir dir;
  const std::string path =
      dir.write("labels.csv",
                "Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                "1,2,3,4,5,TCP,Normal\n1,2,3,4,5,TCP,Att\xff"
                "ck\n");
  const Dataset ds = load_one(path);
  EXPECT_THAT(ds.class_names, ElementsAre("Normal",
                                          "Att\xEF\xBF\xBD"
                                          "ck"));
}

}  // namespace
}  // namespace netsentry::data
