#include "eval/report.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace netsentry::eval::test_support {
std::string xml_problem(std::string_view xml);  // defined in svg_plot_test.cpp
bool python_parses(const std::string& xml);
}  // namespace netsentry::eval::test_support

namespace netsentry::eval {
namespace {

namespace fs = std::filesystem;
using test_support::python_parses;
using test_support::xml_problem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("ns_report_" + name);
  fs::remove_all(dir);
  return dir;
}

ModelEvaluation model(std::string name, double accuracy) {
  ModelEvaluation m;
  m.name = std::move(name);
  m.accuracy = accuracy;
  m.precision = 0.8125;
  m.recall = 0.9375;
  m.f1 = 0.8706;
  m.roc_auc = 0.9612;
  m.pr_auc = 0.8844;
  m.fpr_at_95_recall = 0.0731;
  m.confusion = {{950, 50}, {6, 94}};
  m.confusion_labels = {"normal", "attack"};
  m.roc = {{0, 0}, {0.05, 0.9}, {0.2, 0.97}, {1, 1}};
  m.pr = {{0, 1}, {0.9, 0.85}, {1, 0.1}};
  for (int i = 0; i < 1000; ++i) m.scores_normal.push_back(static_cast<float>(i % 97) / 200);
  for (int i = 0; i < 100; ++i) m.scores_attack.push_back(0.4f + static_cast<float>(i) / 200);
  m.threshold = 0.45;
  m.classification_report =
      "              precision    recall\n      attack       0.81      0.94\n";
  return m;
}

EvaluationReport sample() {
  EvaluationReport r;
  r.title = "Evaluation on test split";
  r.command = "netsentry evaluate --bundle model --report out data/test.csv";
  r.generated_at = "2024-05-01 12:00:00 UTC";
  r.data_files = {"data/test.csv"};
  r.rows = 1100;
  r.class_counts = {{"normal", 1000}, {"attack", 100}};
  r.models = {model("isolation_forest", 0.9111), model("ensemble", 0.9456)};
  return r;
}

TEST(FileStem, ReplacesCharactersUnsafeInFileNames) {
  EXPECT_EQ(file_stem("isolation_forest"), "isolation_forest");
  EXPECT_EQ(file_stem("<script>"), "_script_");
  EXPECT_EQ(file_stem("../etc/passwd"), "___etc_passwd");
  EXPECT_EQ(file_stem(""), "model");
}

TEST(WriteReport, WritesEveryExpectedFile) {
  const fs::path dir = fresh_dir("files") / "nested";
  write_report(dir, sample());
  for (const char* name :
       {"report.html", "roc.svg", "pr.svg", "confusion_isolation_forest.svg",
        "scores_isolation_forest.svg", "confusion_ensemble.svg", "scores_ensemble.svg"}) {
    EXPECT_TRUE(fs::is_regular_file(dir / name)) << name;
    EXPECT_GT(fs::file_size(dir / name), 500u) << name;
  }
}

TEST(WriteReport, EveryFileIsWellFormedXml) {
  const fs::path dir = fresh_dir("xml");
  write_report(dir, sample());
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string text = slurp(entry.path());
    EXPECT_EQ(xml_problem(text), "") << entry.path();
    EXPECT_TRUE(python_parses(text)) << entry.path();
  }
}

TEST(WriteReport, HtmlShowsEachModelsMetricsAndSummary) {
  const fs::path dir = fresh_dir("metrics");
  EvaluationReport r = sample();
  r.models[1].roc_auc = ModelEvaluation::kNaN;
  write_report(dir, r);
  const std::string html = slurp(dir / "report.html");
  for (const char* text :
       {"<td>isolation_forest</td>", "<td>ensemble</td>", "<td>0.9111</td>", "0.9456</td>",
        ">0.8125</td>", ">0.9375</td>", ">0.8706</td>", ">0.9612</td>", ">0.8844</td>",
        ">0.0731</td>", "<td>n/a</td>", "<th>FPR @ 95% recall</th>", "<code>data/test.csv</code>",
        "<td>1000</td>", "90.91%", "2024-05-01 12:00:00 UTC",
        "netsentry evaluate --bundle model --report out data/test.csv",
        "<pre>              precision    recall", "prefers-color-scheme:dark"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  // The better accuracy is highlighted, the worse one is not.
  EXPECT_NE(html.find("<td class=\"best\">0.9456</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td class=\"best\">0.9111</td>"), std::string::npos);
}

TEST(WriteReport, HtmlIsSelfContained) {
  const fs::path dir = fresh_dir("inline");
  write_report(dir, sample());
  const std::string html = slurp(dir / "report.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  // Every plot is inlined: four per two models plus ROC and PR.
  std::size_t svgs = 0;
  for (auto at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1)) {
    ++svgs;
  }
  EXPECT_EQ(svgs, 6u);
}

TEST(WriteReport, EscapesHostileModelNames) {
  const fs::path dir = fresh_dir("hostile");
  EvaluationReport r = sample();
  r.models[0].name = "<script>";
  r.models[0].classification_report = "</pre><script>alert(1)</script>";
  r.data_files = {"a&b.csv"};
  write_report(dir, r);
  const std::string html = slurp(dir / "report.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<td>&lt;script&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b.csv"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(dir / "confusion__script_.svg"));
  EXPECT_EQ(slurp(dir / "confusion__script_.svg").find("<script"), std::string::npos);
}

TEST(WriteReport, ModelsWithCollidingFileStemsKeepTheirOwnPlots) {
  const fs::path dir = fresh_dir("collide");
  EvaluationReport r = sample();
  r.models[0].name = "a/b";
  r.models[1].name = "a?b";
  write_report(dir, r);
  EXPECT_TRUE(fs::is_regular_file(dir / "scores_a_b.svg"));
  EXPECT_TRUE(fs::is_regular_file(dir / "scores_a_b-2.svg"));
}

TEST(WriteReport, WorksWithoutModelsOrCurves) {
  const fs::path dir = fresh_dir("empty");
  EvaluationReport r;
  r.rows = 0;
  write_report(dir, r);
  const std::string html = slurp(dir / "report.html");
  EXPECT_NE(html.find("No models were evaluated."), std::string::npos);
  EXPECT_EQ(xml_problem(html), "");
  EXPECT_TRUE(fs::is_regular_file(dir / "roc.svg"));
}

TEST(WriteReport, ThrowsErrorNamingTheUnwritablePath) {
  const fs::path base = fresh_dir("blocked");
  fs::create_directories(base);
  std::ofstream(base / "file") << "not a directory";
  const fs::path dir = base / "file" / "report";
  try {
    write_report(dir, sample());
    FAIL() << "expected core::Error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace netsentry::eval
