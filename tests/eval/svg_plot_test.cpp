#include "eval/svg_plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::eval::test_support {

// A small XML well-formedness check (balanced tags, quoted attributes, valid entities), so the
// tests do not depend on Python. Returns an empty string when `xml` is well formed. Shared with
// report_test.cpp.
std::string xml_problem(std::string_view xml) {
  std::vector<std::string> open;
  std::size_t i = 0;
  auto is_name = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':';
  };
  while (i < xml.size()) {
    const char c = xml[i];
    if (c == '&') {
      static const std::regex kEntity(R"(^&([a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);)");
      const std::string rest(xml.substr(i, 12));
      if (!std::regex_search(rest, kEntity)) return "bad entity at " + std::to_string(i);
      ++i;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    auto skip_to = [&](std::string_view end) {
      const auto j = xml.find(end, i);
      if (j == std::string_view::npos) return false;
      i = j + end.size();
      return true;
    };
    if (xml.substr(i, 4) == "<!--") {
      if (!skip_to("-->")) return "unterminated comment";
      continue;
    }
    if (xml.substr(i, 2) == "<?" || xml.substr(i, 2) == "<!") {
      if (!skip_to(">")) return "unterminated declaration";
      continue;
    }
    const bool closing = xml.substr(i, 2) == "</";
    i += closing ? 2 : 1;
    const std::size_t name_start = i;
    while (i < xml.size() && is_name(xml[i])) ++i;
    const std::string name(xml.substr(name_start, i - name_start));
    if (name.empty()) return "tag without name at " + std::to_string(name_start);
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> does not close <" + (open.empty() ? "" : open.back()) + ">";
      }
      open.pop_back();
      if (i >= xml.size() || xml[i] != '>') return "bad closing tag </" + name;
      ++i;
      continue;
    }
    for (;;) {
      while (i < xml.size() && std::isspace(static_cast<unsigned char>(xml[i]))) ++i;
      if (i >= xml.size()) return "unterminated tag <" + name;
      if (xml[i] == '>') {
        open.push_back(name);
        ++i;
        break;
      }
      if (xml.substr(i, 2) == "/>") {
        i += 2;
        break;
      }
      const std::size_t attr_start = i;
      while (i < xml.size() && is_name(xml[i])) ++i;
      if (i == attr_start || i + 1 >= xml.size() || xml[i] != '=' ||
          (xml[i + 1] != '"' && xml[i + 1] != '\'')) {
        return "bad attribute in <" + name + "> at " + std::to_string(attr_start);
      }
      const char quote = xml[i + 1];
      const auto end = xml.find(quote, i + 2);
      if (end == std::string_view::npos) return "unterminated attribute in <" + name;
      if (xml.substr(i + 2, end - i - 2).find('<') != std::string_view::npos) {
        return "'<' inside an attribute of <" + name + ">";
      }
      i = end + 1;
    }
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return {};
}

// Python's XML parser as a second opinion when it is installed.
bool python_parses(const std::string& xml) {
  if (!std::filesystem::exists("/usr/bin/python3")) return true;
  // A name of this process's own: ctest runs each test as its own process, side by side, and a
  // shared name let one test's python read another's half-written file (seen once in CI).
  static int calls = 0;
  const auto path =
      std::filesystem::path(::testing::TempDir()) /
      ("ns_svg_check_" + std::to_string(::getpid()) + "_" + std::to_string(++calls) + ".xml");
  std::ofstream(path) << xml;
  const std::string command =
      "/usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' " +
      path.string() + " 2>/dev/null";
  const bool ok = std::system(command.c_str()) == 0;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return ok;
}

}  // namespace netsentry::eval::test_support

namespace netsentry::eval::svg {
namespace {

using test_support::python_parses;
using test_support::xml_problem;

std::vector<std::string> labels_of(const Axis& axis) {
  std::vector<std::string> out;
  for (double t : axis.ticks) out.push_back(tick_label(t, axis.step));
  return out;
}

TEST(XmlCheck, RejectsMalformedDocuments) {
  // Guards the guard: the well-formedness checker must be able to fail.
  EXPECT_EQ(xml_problem(R"(<svg a="1"><g><text>x &amp; y</text></g></svg>)"), "");
  EXPECT_NE(xml_problem("<svg><g></svg>"), "");
  EXPECT_NE(xml_problem("<svg><text>a & b</text></svg>"), "");
  EXPECT_NE(xml_problem("<svg a=1></svg>"), "");
  EXPECT_NE(xml_problem("<svg>"), "");
}

TEST(XmlEscape, EscapesAllFiveSpecialCharacters) {
  EXPECT_EQ(xml_escape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(xml_escape("plain text"), "plain text");
}

TEST(NiceAxis, UnitRangeTicksByTwoTenths) {
  const Axis axis = nice_axis(0, 1);
  EXPECT_EQ(labels_of(axis), (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  EXPECT_DOUBLE_EQ(axis.lo, 0);
  EXPECT_DOUBLE_EQ(axis.hi, 1);
}

TEST(NiceAxis, CountRangeTicksByRoundHundreds) {
  const Axis axis = nice_axis(0, 2300);
  EXPECT_EQ(labels_of(axis),
            (std::vector<std::string>{"0", "500", "1000", "1500", "2000", "2500"}));
}

TEST(NiceAxis, ExtendsToRoundBoundsAroundTheData) {
  const Axis axis = nice_axis(-0.37, 4.1);
  EXPECT_DOUBLE_EQ(axis.lo, -1);
  EXPECT_DOUBLE_EQ(axis.hi, 5);
  EXPECT_EQ(labels_of(axis), (std::vector<std::string>{"-1", "0", "1", "2", "3", "4", "5"}));
}

TEST(NiceAxis, WidensDegenerateAndNonFiniteRanges) {
  const Axis flat = nice_axis(3.7, 3.7);
  EXPECT_LT(flat.lo, 3.7);
  EXPECT_GT(flat.hi, 3.7);
  EXPECT_GE(flat.ticks.size(), 2u);
  const Axis bad = nice_axis(std::numeric_limits<double>::quiet_NaN(), 1);
  EXPECT_DOUBLE_EQ(bad.lo, 0);
  EXPECT_DOUBLE_EQ(bad.hi, 1);
}

TEST(TickLabel, UsesSuffixesForLargeSteps) {
  EXPECT_EQ(tick_label(1500000, 500000), "1.5M");
  EXPECT_EQ(tick_label(20000, 5000), "20k");
  EXPECT_EQ(tick_label(0, 5000), "0");
  EXPECT_EQ(tick_label(0.75, 0.25), "0.75");
  EXPECT_EQ(tick_label(-1e-18, 0.2), "0.0");
}

TEST(BinValues, BinCountsSumToFiniteInputCounts) {
  const std::vector<float> a = {
      0.0f, 0.1f, 0.1f, 0.5f, 0.99f, 1.0f, std::numeric_limits<float>::quiet_NaN()};
  const std::vector<float> b = {0.7f, 0.8f, 0.9f, 1.0f};
  const Bins bins = bin_values(a, b, 10);
  ASSERT_EQ(bins.a.size(), 10u);
  EXPECT_EQ(std::accumulate(bins.a.begin(), bins.a.end(), 0LL), 6);
  EXPECT_EQ(std::accumulate(bins.b.begin(), bins.b.end(), 0LL), 4);
  EXPECT_EQ(bins.a.front(), 1);  // 0.0
  EXPECT_EQ(bins.a.back(), 2);   // 0.99 and the maximum 1.0
  EXPECT_DOUBLE_EQ(bins.lo, 0);
  EXPECT_NEAR(bins.width, 0.1, 1e-6);
}

TEST(BinValues, RangeIncludesThreshold) {
  const std::vector<float> a = {1, 2, 3};
  const Bins bins = bin_values(a, {}, 4, 5.0);
  EXPECT_DOUBLE_EQ(bins.lo, 1);
  EXPECT_DOUBLE_EQ(bins.lo + bins.width * 4, 5);
}

TEST(BinValues, RejectsZeroBins) { EXPECT_THROW((void)bin_values({}, {}, 0), core::Error); }

LineChart roc_chart() {
  LineChart chart{.title = "ROC",
                  .x_title = "false positive rate",
                  .y_title = "true positive rate",
                  .unit_axes = true,
                  .diagonal = true};
  chart.series.push_back({"<script>alert('x')</script>", {{0, 0}, {0.1, 0.8}, {1, 1}}});
  chart.series.push_back({"random_forest", {{0, 0}, {0.05, 0.9}, {1, 1}}});
  return chart;
}

TEST(LineChart, IsWellFormedSvgWithTitlesAndLegend) {
  const std::string svg = line_chart(roc_chart());
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_TRUE(python_parses(svg));
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 560 420\""));
  EXPECT_NE(svg.find(">false positive rate</text>"), std::string::npos);
  EXPECT_NE(svg.find(">true positive rate</text>"), std::string::npos);
  EXPECT_NE(svg.find(">random_forest</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.6</text>"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
}

TEST(LineChart, DrawsDiagonalOnlyWhenAsked) {
  LineChart chart = roc_chart();
  EXPECT_NE(line_chart(chart).find("stroke-dasharray"), std::string::npos);
  chart.diagonal = false;
  EXPECT_EQ(line_chart(chart).find("stroke-dasharray"), std::string::npos);
}

TEST(LineChart, DropsSubPixelPointsButKeepsEndpoints) {
  LineChart chart{.title = "dense", .unit_axes = true};
  Series s{"curve", {}};
  for (int i = 0; i <= 100000; ++i) {
    const double x = i / 100000.0;
    s.points.emplace_back(x, std::sqrt(x));
  }
  chart.series.push_back(s);
  const std::string svg = line_chart(chart);
  const std::smatch m = [&] {
    std::smatch match;
    std::regex_search(svg, match, std::regex(R"re(<path d="M([0-9.]+),([0-9.]+)([^"]*)")re"));
    return match;
  }();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[1].str(), "64.0");  // x = 0 sits on the left edge of the plot area
  EXPECT_LT(svg.size(), 40000u);
  EXPECT_TRUE(m[3].str().ends_with("L540.0,40.0"));  // (1, 1) is the top-right corner
}

TEST(LineChart, SaysNoDataWhenEverySeriesIsEmpty) {
  LineChart chart{.title = "empty"};
  chart.series.push_back({"nothing", {}});
  const std::string svg = line_chart(chart);
  EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
  EXPECT_EQ(xml_problem(svg), "");
}

TEST(Histogram, DrawsBothGroupsThresholdAndCounts) {
  std::vector<float> normal(1000), attack(30);
  for (std::size_t i = 0; i < normal.size(); ++i) normal[i] = static_cast<float>(i % 100) / 200;
  for (std::size_t i = 0; i < attack.size(); ++i) attack[i] = 0.6f + static_cast<float>(i) / 100;
  Histogram chart{.title = "scores <&>",
                  .values_a = normal,
                  .values_b = attack,
                  .bins = 20,
                  .threshold = 0.55,
                  .log_y = true};
  const std::string svg = histogram(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_TRUE(python_parses(svg));
  EXPECT_NE(svg.find("scores &lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">threshold 0.55</text>"), std::string::npos);
  EXPECT_NE(svg.find(">normal (n=1,000)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">attack (n=30)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">count (log)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);  // a decade tick
}

TEST(Histogram, LinearScaleStartsAtZero) {
  const std::vector<float> a = {1, 1, 2, 3};
  const std::string svg = histogram(Histogram{.title = "h", .values_a = a, .bins = 4});
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find(">0.0</text>"), std::string::npos);
  EXPECT_EQ(svg.find("threshold"), std::string::npos);
}

TEST(Heatmap, PrintsEveryCellCountWithRowShare) {
  const Heatmap chart{
      .title = "confusion", .labels = {"normal", "attack"}, .counts = {{12345, 7}, {0, 42}}};
  const std::string svg = heatmap(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_TRUE(python_parses(svg));
  for (const char* text :
       {">12,345</text>", ">7</text>", ">0</text>", ">42</text>", ">100.0%</text>",
        ">normal</text>", ">attack</text>", ">true</text>", ">predicted</text>"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
}

TEST(Heatmap, TextContrastsWithCellColour) {
  const Heatmap chart{.title = "c", .labels = {"a", "b"}, .counts = {{100, 0}, {0, 100}}};
  const std::string svg = heatmap(chart);
  // Full-share (dark blue) cells carry white text, empty (near white) cells dark text.
  EXPECT_NE(svg.find(R"(fill="#ffffff" font-weight="600">100</text>)"), std::string::npos);
  EXPECT_NE(svg.find(R"(fill="#111111" font-weight="600">0</text>)"), std::string::npos);
}

TEST(Heatmap, RotatesLongClassNamesAndStaysWellFormed) {
  const std::vector<std::string> labels = {"BENIGN", "DoS Hulk",         "PortScan",
                                           "DDoS",   "Web Attack & XSS", "Bot"};
  Heatmap chart{.title = "classes", .labels = labels};
  for (std::size_t r = 0; r < labels.size(); ++r) {
    chart.counts.emplace_back(labels.size(), 1);
    chart.counts[r][r] = 1000;
  }
  const std::string svg = heatmap(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("rotate(-40"), std::string::npos);
  EXPECT_NE(svg.find(">Web Attack &amp; XSS</text>"), std::string::npos);
}

TEST(Heatmap, RejectsCountsThatDoNotMatchLabels) {
  EXPECT_THROW((void)heatmap(Heatmap{.title = "c", .labels = {"a", "b"}, .counts = {{1, 2}}}),
               core::Error);
  EXPECT_THROW((void)heatmap(Heatmap{.title = "c", .labels = {"a"}, .counts = {{1, 2}}}),
               core::Error);
  EXPECT_THROW((void)heatmap(Heatmap{.title = "c", .labels = {"a"}, .counts = {{-1}}}),
               core::Error);
}

}  // namespace
}  // namespace netsentry::eval::svg
