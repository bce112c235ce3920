#include "ml/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::ml {
namespace {

// Fixed arrays shared by the tests; expected values worked out by hand and checked with
// scikit-learn 1.2.1 (/usr/bin/python3):
//   y = [0,0,1,1,0,1,0,1,1,0]; s = np.float32([.1,.4,.35,.8,.4,.9,.2,.4,.7,.05]); p = s > .5
//   roc_auc_score(y, s) = 0.88; average_precision_score(y, s) = 0.8761904761904762
//   confusion_matrix(y, p) = [[5, 0], [2, 3]]; precision 1.0, recall 0.6, f1 0.75, accuracy 0.8
const std::vector<int> kY = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0};
const std::vector<float> kS = {0.1f, 0.4f, 0.35f, 0.8f, 0.4f, 0.9f, 0.2f, 0.4f, 0.7f, 0.05f};

std::vector<int> predicted(float threshold) {
  std::vector<int> p;
  for (const float s : kS) p.push_back(s > threshold ? 1 : 0);
  return p;
}

TEST(Metrics, RocAucCountsTiesAsHalf) {
  // 25 positive/negative pairs: 21 ordered correctly, the positive 0.4 ties two negatives (2 x
  // 1/2).
  EXPECT_DOUBLE_EQ(roc_auc(kY, kS), 22.0 / 25.0);
  // All scores equal: every pair is a tie.
  EXPECT_DOUBLE_EQ(roc_auc(kY, std::vector<float>(10, 0.3f)), 0.5);
  // Perfect and reversed rankings.
  const std::vector<int> y = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(roc_auc(y, std::vector<float>{1, 2, 3, 4}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(y, std::vector<float>{4, 3, 2, 1}), 0.0);
}

TEST(Metrics, RocAucIsUndefinedWithOneClass) {
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<int>{1, 1}, std::vector<float>{0.1f, 0.2f})));
  EXPECT_TRUE(
      std::isnan(average_precision(std::vector<int>{0, 0}, std::vector<float>{0.1f, 0.2f})));
}

TEST(Metrics, AveragePrecisionMatchesScikitLearn) {
  // Thresholds .9 .8 .7 reach recall .2 .4 .6 at precision 1; .4 reaches .8 at 4/6; .35 reaches 1
  // at 5/7: AP = .6 + .2 * 4/6 + .2 * 5/7.
  EXPECT_NEAR(average_precision(kY, kS), 0.6 + 0.2 * 4.0 / 6.0 + 0.2 * 5.0 / 7.0, 1e-12);
  EXPECT_NEAR(average_precision(kY, kS), 0.8761904761904762, 1e-12);
}

TEST(Metrics, FprAtRecallTakesFirstThresholdReachingIt) {
  EXPECT_DOUBLE_EQ(fpr_at_recall(kY, kS, 0.95), 0.4);  // all 5 positives need threshold .35
  EXPECT_DOUBLE_EQ(fpr_at_recall(kY, kS, 0.6), 0.0);   // .7 already finds 3 of 5
  EXPECT_DOUBLE_EQ(fpr_at_recall(kY, kS, 0.8), 0.4);   // .4 brings two negatives with it
}

TEST(Metrics, BinaryEvaluationMatchesScikitLearn) {
  const auto e = evaluate_binary(kY, kS, 0.5f);
  EXPECT_EQ(e.tn, 5);
  EXPECT_EQ(e.fp, 0);
  EXPECT_EQ(e.fn, 2);
  EXPECT_EQ(e.tp, 3);
  EXPECT_DOUBLE_EQ(e.accuracy, 0.8);
  EXPECT_DOUBLE_EQ(e.precision, 1.0);
  EXPECT_DOUBLE_EQ(e.recall, 0.6);
  EXPECT_DOUBLE_EQ(e.f1, 0.75);
  EXPECT_DOUBLE_EQ(e.fpr_at_95_recall, 0.4);

  const auto j = to_json(e);
  EXPECT_EQ(j.at("confusion_matrix"), nlohmann::json::parse("[[5,0],[2,3]]"));
  EXPECT_DOUBLE_EQ(j.at("roc_auc").get<double>(), 0.88);
  EXPECT_EQ(j.at("support").at("attack"), 5);
  EXPECT_EQ(j.at("support").at("total"), 10);
  for (const char* key : {"accuracy", "precision", "recall", "f1", "pr_auc", "fpr_at_95_recall"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  // An undefined AUC becomes null, not a non-JSON NaN.
  const auto one_class = to_json(evaluate_binary(std::vector<int>{0, 0}, {{0.1f, 0.9f}}, 0.5f));
  EXPECT_TRUE(one_class.at("roc_auc").is_null());
}

// What an operator sees: 1 of 4 benign rows flagged is 2,500 per 10,000; at 1 attack in 10,000
// rows, a detector with recall 0.5 and that false-positive rate is almost always wrong.
TEST(Metrics, FalsePositivesPer10kAndPrecisionAtARealisticBaseRate) {
  const std::vector<int> y = {0, 0, 0, 0, 1, 1};
  const std::vector<float> s = {0.1f, 0.2f, 0.9f, 0.3f, 0.8f, 0.1f};
  const auto e = evaluate_binary(y, s, 0.5f);
  EXPECT_DOUBLE_EQ(e.fp_per_10k, 2500.0);
  EXPECT_NEAR(e.precision_at_base_rate, 0.5e-4 / (0.5e-4 + 0.25 * (1 - 1e-4)), 1e-12);
  EXPECT_NEAR(precision_at_base_rate(0.9, 0.001), 0.9e-4 / (0.9e-4 + 0.001 * 0.9999), 1e-12);
  EXPECT_DOUBLE_EQ(precision_at_base_rate(1.0, 0.0), 1.0);
  EXPECT_TRUE(std::isnan(precision_at_base_rate(0.0, 0.0)));
  const auto j = to_json(e);
  EXPECT_DOUBLE_EQ(j.at("fp_per_10k").get<double>(), 2500.0);
  EXPECT_DOUBLE_EQ(j.at("base_rate").get<double>(), kRealisticBaseRate);
  // Nothing flagged and nothing detected: precision is undefined, null in JSON.
  EXPECT_TRUE(to_json(evaluate_binary(y, s, 2.0f)).at("precision_at_base_rate").is_null());
}

TEST(Metrics, MultiClassConfusionMatrixAndAverages) {
  // sklearn: confusion_matrix(yt, yp) = [[3,0,0],[0,2,1],[1,1,2]];
  // precision_recall_fscore_support: P [.75 .667 .667], R [1 .667 .5], F1 [.857 .667 .571]
  const std::vector<int> yt = {0, 1, 2, 2, 1, 0, 2, 1, 0, 2};
  const std::vector<int> yp = {0, 2, 2, 2, 1, 0, 1, 1, 0, 0};
  const ConfusionMatrix cm(yt, yp);
  ASSERT_EQ(cm.n_classes(), 3);
  const int expected[3][3] = {{3, 0, 0}, {0, 2, 1}, {1, 1, 2}};
  for (int t = 0; t < 3; ++t) {
    for (int p = 0; p < 3; ++p) EXPECT_EQ(cm.at(t, p), expected[t][p]) << t << "," << p;
  }
  const auto m = classification_metrics(cm);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.7);
  EXPECT_DOUBLE_EQ(m.per_class[0].precision, 0.75);
  EXPECT_DOUBLE_EQ(m.per_class[2].recall, 0.5);
  EXPECT_NEAR(m.per_class[0].f1, 6.0 / 7.0, 1e-12);
  EXPECT_NEAR(m.macro.precision, (0.75 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(m.weighted.f1, (3 * 6.0 / 7.0 + 3 * 2.0 / 3.0 + 4 * 4.0 / 7.0) / 10.0, 1e-12);
  EXPECT_EQ(m.per_class[2].support, 4);
}

TEST(Metrics, ClassificationReportMatchesScikitLearnText) {
  // repr(classification_report(y, p)) from scikit-learn 1.2.1, byte for byte.
  EXPECT_EQ(classification_report(kY, predicted(0.5f)),
            "              precision    recall  f1-score   support\n\n"
            "           0       0.71      1.00      0.83         5\n"
            "           1       1.00      0.60      0.75         5\n\n"
            "    accuracy                           0.80        10\n"
            "   macro avg       0.86      0.80      0.79        10\n"
            "weighted avg       0.86      0.80      0.79        10\n");
  const std::vector<int> yt = {0, 1, 2, 2, 1, 0, 2, 1, 0, 2};
  const std::vector<int> yp = {0, 2, 2, 2, 1, 0, 1, 1, 0, 0};
  const std::vector<std::string> names = {"normal", "dos", "probe"};
  EXPECT_EQ(classification_report(yt, yp, names, 3),
            "              precision    recall  f1-score   support\n\n"
            "      normal      0.750     1.000     0.857         3\n"
            "         dos      0.667     0.667     0.667         3\n"
            "       probe      0.667     0.500     0.571         4\n\n"
            "    accuracy                          0.700        10\n"
            "   macro avg      0.694     0.722     0.698        10\n"
            "weighted avg      0.692     0.700     0.686        10\n");
}

TEST(Metrics, ReportWidensForLongClassNames) {
  const std::vector<int> y = {0, 1};
  const std::vector<std::string> names = {"BENIGN", "Web Attack - Brute Force"};
  const auto text = classification_report(y, y, names);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            std::string(24, ' ') + "  precision    recall  f1-score   support");
  EXPECT_NE(text.find("Web Attack - Brute Force       1.00"), std::string::npos) << text;
}

TEST(Metrics, CurvesMatchScikitLearnPoints) {
  // roc_curve(y, s, drop_intermediate=False): fpr [0 0 0 0 .4 .4 .6 .8 1], tpr [0 .2 .4 .6 .8 1 1 1
  // 1]
  const auto roc = roc_curve(kY, kS);
  const std::vector<double> fpr = {0, 0, 0, 0, .4, .4, .6, .8, 1};
  const std::vector<double> tpr = {0, .2, .4, .6, .8, 1, 1, 1, 1};
  ASSERT_EQ(roc.size(), fpr.size());
  for (std::size_t i = 0; i < roc.size(); ++i) {
    EXPECT_NEAR(roc[i].x, fpr[i], 1e-12) << i;
    EXPECT_NEAR(roc[i].y, tpr[i], 1e-12) << i;
  }
  EXPECT_FLOAT_EQ(static_cast<float>(roc[4].threshold), 0.4f);
  // precision_recall_curve, read from its end: (R, P) = (0, 1), (.2, 1), (.4, 1), (.6, 1),
  // (.8, 2/3), (1, 5/7), (1, .625), (1, 5/9), (1, .5)
  const auto pr = pr_curve(kY, kS);
  ASSERT_EQ(pr.size(), 9u);
  EXPECT_NEAR(pr[4].x, 0.8, 1e-12);
  EXPECT_NEAR(pr[4].y, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(pr[8].y, 0.5, 1e-12);
}

TEST(Metrics, CurvesAreThinnedToAtMostMaxPointsKeepingEnds) {
  std::vector<int> y(5000);
  std::vector<float> s(5000);
  for (std::size_t i = 0; i < y.size(); ++i) {
    y[i] = static_cast<int>(i % 3 == 0);
    s[i] = static_cast<float>(i);
  }
  const auto roc = roc_curve(y, s);
  ASSERT_EQ(roc.size(), 500u);
  EXPECT_EQ(roc.front().x, 0.0);
  EXPECT_EQ(roc.back().x, 1.0);
  EXPECT_EQ(roc.back().y, 1.0);
  EXPECT_EQ(to_json(roc).size(), 500u);
  EXPECT_EQ(pr_curve(y, s, 50).size(), 50u);
}

TEST(Metrics, BestF1ThresholdSeparatesAtTheBestCut) {
  // Cut between .7 and .4 gives F1 = 2*3/(2*3+0+2) = .75; cut below .35 gives 2*5/(10+2) = .833.
  const auto choice = best_f1_threshold(kY, kS);
  EXPECT_NEAR(choice.f1, 10.0 / 12.0, 1e-12);
  EXPECT_LT(choice.threshold, 0.35f);
  EXPECT_GT(choice.threshold, 0.2f);
  EXPECT_NEAR(evaluate_binary(kY, kS, choice.threshold).f1, choice.f1, 1e-12);
}

TEST(Metrics, RejectsMismatchedOrInvalidInput) {
  EXPECT_THROW((void)roc_auc(std::vector<int>{0, 1}, std::vector<float>{0.5f}), core::Error);
  EXPECT_THROW((void)roc_auc(std::vector<int>{0, 2}, std::vector<float>{0.5f, 0.1f}), core::Error);
  EXPECT_THROW((void)roc_auc(std::vector<int>{0, 1}, std::vector<float>{NAN, 0.1f}), core::Error);
  EXPECT_THROW(ConfusionMatrix(std::vector<int>{0, 3}, std::vector<int>{0, 1}, 2), core::Error);
  EXPECT_THROW(ConfusionMatrix(std::vector<int>{-1}, std::vector<int>{0}), core::Error);
}

}  // namespace
}  // namespace netsentry::ml
