// Tests for the LibTorch models (src/ml/torch/torch_models.h) on synthetic data with known
// structure: a low-rank manifold for the autoencoder, a rule over a host's previous records for the
// LSTM (a sequence labeller over chunks of each host's consecutive records). Compiled only when the
// project is built with LibTorch (NETSENTRY_TORCH=ON); torch's exported USE_DISTRIBUTED definition
// reaches this target only through ns_ml_torch.
#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include "ml/torch/torch_models.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/matrix.h"
#include "ml/model.h"

namespace netsentry::ml::torch {
namespace {

using ::testing::HasSubstr;

// P(score of a random positive > score of a random negative), ties count half.
double roc_auc(const std::vector<float>& positives, const std::vector<float>& negatives) {
  double wins = 0;
  for (float p : positives) {
    for (float n : negatives) wins += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  }
  return wins / (static_cast<double>(positives.size()) * static_cast<double>(negatives.size()));
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("netsentry_torch_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// 20-D points x = A z + small noise with z 3-D: normal traffic lives on a 3-D linear manifold.
struct Manifold {
  static constexpr std::size_t kWidth = 20;
  static constexpr std::size_t kRank = 3;
  std::mt19937 rng{7};
  std::vector<float> a = [this] {
    std::normal_distribution<float> n(0.0f, 1.0f / std::sqrt(static_cast<float>(kRank)));
    std::vector<float> m(kWidth * kRank);
    for (float& v : m) v = n(rng);
    return m;
  }();

  data::Matrix on(std::size_t rows) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    data::Matrix x(rows, kWidth);
    for (std::size_t r = 0; r < rows; ++r) {
      float z[kRank];
      for (float& v : z) v = n(rng);
      for (std::size_t c = 0; c < kWidth; ++c) {
        float s = 0.02f * n(rng);
        for (std::size_t k = 0; k < kRank; ++k) s += a[c * kRank + k] * z[k];
        x.at(r, c) = s;
      }
    }
    return x;
  }

  // Same per-feature scale, but full rank: almost all of it lies off the manifold.
  data::Matrix off(std::size_t rows) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    data::Matrix x(rows, kWidth);
    for (float& v : x.values) v = n(rng);
    return x;
  }
};

// Records of several hosts interleaved in time. Feature 0 is "high" (1) with p = 0.8; a record is
// an attack when its host's previous 3 records were all high. The record's own features carry no
// information about its label, so only a model that reads the host's history can learn it.
struct HostSequences {
  data::Matrix x;
  std::vector<int> y;
  std::vector<std::int32_t> group;
};

HostSequences make_host_sequences(std::size_t rows, std::uint32_t seed) {
  constexpr int kHosts = 6;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> host(0, kHosts - 1);
  std::bernoulli_distribution high(0.8);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  HostSequences s{data::Matrix(rows, 4), std::vector<int>(rows), std::vector<std::int32_t>(rows)};
  std::vector<std::vector<bool>> history(kHosts);
  for (std::size_t r = 0; r < rows; ++r) {
    const int h = host(rng);
    const auto& past = history[h];
    const bool attack =
        past.size() >= 3 && past[past.size() - 1] && past[past.size() - 2] && past[past.size() - 3];
    const bool is_high = high(rng);
    s.x.at(r, 0) = is_high ? 1.0f : 0.0f;
    for (std::size_t c = 1; c < 4; ++c) s.x.at(r, c) = noise(rng);
    s.y[r] = attack ? 1 : 0;
    s.group[r] = 100 + h;
    history[h].push_back(is_high);
  }
  return s;
}

data::Matrix random_matrix(std::size_t rows, std::size_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  data::Matrix x(rows, cols);
  for (float& v : x.values) v = n(rng);
  return x;
}

std::vector<int> alternating_labels(std::size_t rows) {
  std::vector<int> y(rows);
  for (std::size_t i = 0; i < rows; ++i) y[i] = (i % 3 == 0) ? 1 : 0;
  return y;
}

// Random rows (every third one an attack) bound into a TrainSet, and a context of `epochs`: the
// training data most tests here start from. Not copyable: `ts` points into it.
struct RandomTraining {
  RandomTraining(std::size_t rows, std::size_t cols, std::uint32_t seed, int epochs)
      : x(random_matrix(rows, cols, seed)), y(alternating_labels(rows)) {
    ts.x = &x;
    ts.y = y;
    ctx.epochs = epochs;
  }
  RandomTraining(const RandomTraining&) = delete;
  RandomTraining& operator=(const RandomTraining&) = delete;

  const data::Matrix x;
  const std::vector<int> y;
  TrainSet ts;
  TrainContext ctx;
};

class TorchModels : public ::testing::Test {
 protected:
  void SetUp() override { set_torch_threads(1); }
};

TEST_F(TorchModels, AutoencoderSeparatesOffManifoldPointsAndSetsThresholdAt95thPercentile) {
  Manifold m;
  const data::Matrix train = m.on(2000);
  const data::Matrix normal = m.on(400);
  const data::Matrix anomalous = m.off(400);

  AutoencoderOptions o;
  o.batch_size = 64;
  o.epochs = 40;
  auto ae = make_autoencoder(o);
  EXPECT_EQ(ae->name(), "autoencoder");
  TrainSet ts;
  ts.x = &train;
  ae->fit(ts, TrainContext{});

  const double auc = roc_auc(ae->score(anomalous), ae->score(normal));
  EXPECT_GT(auc, 0.95);

  // The threshold is the 95th percentile of benign rows the weights never saw: about 5 % of
  // fresh benign rows lie above it.
  const auto fresh = ae->score(m.on(2000));
  const auto above =
      std::count_if(fresh.begin(), fresh.end(), [&](float s) { return s > ae->threshold(); });
  const double fraction = static_cast<double>(above) / static_cast<double>(fresh.size());
  EXPECT_NEAR(fraction, 0.05, 0.025);
  // The threshold must also flag most off-manifold points, or it is useless as an alarm line.
  const auto flagged = ae->predict(anomalous);
  EXPECT_GT(std::count(flagged.begin(), flagged.end(), 1), 300);
}

TEST_F(TorchModels, AutoencoderTrainsOnNormalRowsOnlyWhenLabelsExist) {
  Manifold m;
  // Half the training rows are labelled attacks and lie off the manifold; learning them would
  // blur the manifold and also make the attacks look normal.
  data::Matrix train = m.on(1500);
  const data::Matrix attacks = m.off(1500);
  std::vector<int> y(3000, 0);
  train.values.insert(train.values.end(), attacks.values.begin(), attacks.values.end());
  train.rows = 3000;
  std::fill(y.begin() + 1500, y.end(), 1);

  AutoencoderOptions o;
  o.batch_size = 64;
  o.epochs = 30;
  auto ae = make_autoencoder(o);
  TrainSet ts;
  ts.x = &train;
  ts.y = y;
  ae->fit(ts, TrainContext{});
  EXPECT_GT(roc_auc(ae->score(m.off(300)), ae->score(m.on(300))), 0.95);
}

TEST_F(TorchModels, AutoencoderFeatureErrorsPointAtThePerturbedFeature) {
  Manifold m;
  const data::Matrix train = m.on(1500);
  AutoencoderOptions o;
  o.batch_size = 64;
  o.epochs = 30;
  auto model = make_autoencoder(o);
  TrainSet ts;
  ts.x = &train;
  model->fit(ts, TrainContext{});
  const auto* explainer = dynamic_cast<const ReconstructionExplainer*>(model.get());
  ASSERT_NE(explainer, nullptr);

  data::Matrix x = m.on(3);
  x.at(1, 7) += 6.0f;
  const std::vector<float> errors = explainer->feature_errors(x, 1);
  ASSERT_EQ(errors.size(), Manifold::kWidth);
  EXPECT_EQ(std::max_element(errors.begin(), errors.end()) - errors.begin(), 7);
  // Per-feature errors average to the row's score.
  float mean = 0;
  for (float e : errors) mean += e / static_cast<float>(errors.size());
  EXPECT_NEAR(mean, model->score(x)[1], 1e-4f * std::max(1.0f, mean));

  const std::size_t rows[] = {0, 2, 1};
  const data::Matrix batch = explainer->feature_errors(x, rows);
  ASSERT_EQ(batch.rows, 3u);
  EXPECT_FLOAT_EQ(batch.at(2, 7), errors[7]);
  const std::size_t bad[] = {3};
  EXPECT_THROW((void)explainer->feature_errors(x, bad), core::Error);
}

// score() runs its own batches (the transform into one reused tensor, the row MSE summed in
// double); feature_errors() still runs LibTorch's elementwise operators: the two must agree to
// float rounding, on one thread or two, with a batch size that leaves a partial batch.
TEST_F(TorchModels, AutoencoderScoresAreTheMeanOfLibTorchsFeatureErrorsOnAnyThreadCount) {
  Manifold m;
  const data::Matrix train = m.on(1500);
  for (const std::string transform : {"quantile", "both", "none"}) {
    AutoencoderOptions o;
    o.epochs = 3;
    o.transform = transform;
    o.score_batch = 700;
    auto model = make_autoencoder(o);
    TrainSet ts;
    ts.x = &train;
    model->fit(ts, TrainContext{});
    const auto* explainer = dynamic_cast<const ReconstructionExplainer*>(model.get());
    ASSERT_NE(explainer, nullptr);

    data::Matrix x = m.on(2500);
    for (std::size_t r = 0; r < x.rows; r += 7) x.at(r, r % Manifold::kWidth) += 40.0f;
    std::vector<std::size_t> rows(x.rows);
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    const data::Matrix errors = explainer->feature_errors(x, rows);
    const std::vector<float> one = model->score(x);
    model->set_threads(2);
    const std::vector<float> two = model->score(x);
    model->set_threads(1);
    EXPECT_EQ(one, two) << transform;
    for (std::size_t r = 0; r < x.rows; ++r) {
      double mean = 0;
      for (std::size_t c = 0; c < errors.cols; ++c) mean += errors.at(r, c);
      mean /= static_cast<double>(errors.cols);
      ASSERT_NEAR(one[r], mean, 1e-5 * std::max(1e-3, mean)) << transform << ", row " << r;
    }
  }
}

TEST_F(TorchModels, LstmLearnsARuleOverTheHostsPreviousRecords) {
  const HostSequences train = make_host_sequences(2400, 11);
  const HostSequences test = make_host_sequences(1000, 12);
  // The task is not solvable by always guessing one class.
  const double positive_rate =
      static_cast<double>(std::count(test.y.begin(), test.y.end(), 1)) / test.y.size();
  ASSERT_GT(positive_rate, 0.35);
  ASSERT_LT(positive_rate, 0.65);

  LstmOptions o;
  o.hidden_size = 32;
  o.batch_size = 4;
  o.epochs = 8;
  o.learning_rate = 3e-3f;
  auto lstm = make_lstm(o);
  EXPECT_EQ(lstm->name(), "lstm");
  TrainSet ts;
  ts.x = &train.x;
  ts.y = train.y;
  ts.group = train.group;
  std::vector<std::string> lines;
  TrainContext ctx;
  ctx.progress = [&](const std::string& line) { lines.push_back(line); };
  lstm->fit(ts, ctx);

  const auto predicted = lstm->predict(test.x, test.group);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == test.y[i];
  const double accuracy = static_cast<double>(correct) / predicted.size();
  RecordProperty("accuracy", std::to_string(accuracy));
  EXPECT_GT(accuracy, 0.9);

  // Without the groups the hosts' histories mix, and the rule can no longer be read.
  const auto mixed = lstm->predict(test.x);
  std::size_t mixed_correct = 0;
  for (std::size_t i = 0; i < mixed.size(); ++i) mixed_correct += mixed[i] == test.y[i];
  EXPECT_LT(mixed_correct, correct);

  ASSERT_FALSE(lines.empty());
  EXPECT_LE(lines.size(), 8u);
  EXPECT_THAT(lines.front(),
              ::testing::MatchesRegex("lstm epoch 1/8 loss [0-9.]+ val_loss [0-9.]+ lr 0.003 "
                                      "[0-9.]+s \\(eta [0-9]+s\\)"));
}

TEST_F(TorchModels, LstmScoresABatchExactlyAsItsGroupsScoredSeparately) {
  const HostSequences train = make_host_sequences(1200, 13);
  const HostSequences test = make_host_sequences(700, 14);
  LstmOptions o;
  o.hidden_size = 16;
  o.sequence_length = 8;
  o.overlap = 3;
  TrainSet ts;
  ts.x = &train.x;
  ts.y = train.y;
  ts.group = train.group;
  TrainContext ctx;
  ctx.epochs = 2;
  auto lstm = make_lstm(o);
  lstm->fit(ts, ctx);

  const std::vector<float> batch = lstm->score(test.x, test.group);
  ASSERT_EQ(batch.size(), test.x.rows);
  std::size_t compared = 0;
  for (std::int32_t host = 100; host < 106; ++host) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < test.x.rows; ++i) {
      if (test.group[i] == host) rows.push_back(i);
    }
    data::Matrix alone(rows.size(), test.x.cols);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t c = 0; c < test.x.cols; ++c) alone.at(r, c) = test.x.at(rows[r], c);
    }
    // Without group ids too: one group is one sequence either way.
    const std::vector<float> separate = lstm->score(alone);
    ASSERT_EQ(separate.size(), rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r, ++compared) {
      EXPECT_NEAR(separate[r], batch[rows[r]], 1e-5f) << "host " << host << " row " << r;
    }
  }
  EXPECT_EQ(compared, test.x.rows);
  // A smaller forward batch cuts the same chunks, so it changes nothing either.
  o.score_batch = 5;
  const auto dir = fresh_dir("batching");
  const std::string file = lstm->save(dir);
  auto small = make_lstm(o);
  small->load(dir, file, test.x.cols);
  const std::vector<float> small_batches = small->score(test.x, test.group);
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_NEAR(small_batches[i], batch[i], 1e-5f);
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, LstmRefusesAFileOfTheOldWindowFormat) {
  RandomTraining training(100, 5, 71, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  const auto dir = fresh_dir("old_format");
  auto lstm = make_lstm();
  lstm->fit(ts, ctx);
  const std::string file = lstm->save(dir);
  auto sidecar = nlohmann::json::parse(std::ifstream(dir / "lstm.json"));
  EXPECT_EQ(sidecar["format_version"], 2);
  sidecar["format_version"] = 1;
  std::ofstream(dir / "lstm.json", std::ios::trunc) << sidecar.dump();
  try {
    make_lstm()->load(dir, file, 5);
    ADD_FAILURE() << "loading a format-1 LSTM succeeded";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "lstm.json").string()));
    EXPECT_THAT(e.what(), HasSubstr("format_version is 1, this build reads 2; retrain"));
  }
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, LstmStopsEarlyWhenValidationLossStopsImproving) {
  // Random labels: nothing to learn, so the validation loss turns up quickly as it memorises.
  // 250 chunks of 16 rows, so the 10% hold-out is 25 chunks.
  const data::Matrix x = random_matrix(4000, 4, 3);
  std::vector<int> y(4000);
  std::mt19937 rng(5);
  for (int& v : y) v = static_cast<int>(rng() % 2);
  LstmOptions o;
  o.hidden_size = 64;
  o.sequence_length = 16;
  o.batch_size = 8;
  o.epochs = 40;
  o.patience = 3;
  o.learning_rate = 1e-2f;
  auto lstm = make_lstm(o);
  TrainSet ts;
  ts.x = &x;
  ts.y = y;
  std::vector<std::string> lines;
  TrainContext ctx;
  ctx.progress = [&](const std::string& line) { lines.push_back(line); };
  lstm->fit(ts, ctx);
  ASSERT_FALSE(lines.empty());
  EXPECT_LT(lines.size(), 40u);
  EXPECT_THAT(lines.back(), HasSubstr("early stop"));
  // ReduceLROnPlateau (patience 1) halves the rate after two epochs without improvement, one
  // epoch before early stopping (patience 3) gives up.
  const bool reduced = std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("lr 0.005 ") != std::string::npos;
  });
  EXPECT_TRUE(reduced);
}

TEST_F(TorchModels, SameSeedAndOneThreadGiveIdenticalScores) {
  RandomTraining training(300, 5, 21, /*epochs=*/2);
  auto& [x, y, ts, ctx] = training;
  ctx.seed = 99;

  LstmOptions lo;
  lo.hidden_size = 8;
  auto a = make_lstm(lo);
  auto b = make_lstm(lo);
  a->fit(ts, ctx);
  b->fit(ts, ctx);
  EXPECT_EQ(a->score(x), b->score(x));
  auto c = make_lstm(lo);
  ctx.seed = 100;
  c->fit(ts, ctx);
  EXPECT_NE(a->score(x), c->score(x));

  ctx.seed = 99;
  auto d = make_autoencoder();
  auto e = make_autoencoder();
  d->fit(ts, ctx);
  e->fit(ts, ctx);
  EXPECT_EQ(d->score(x), e->score(x));
  EXPECT_EQ(d->threshold(), e->threshold());
}

TEST_F(TorchModels, SaveAndLoadRoundTripGivesIdenticalScores) {
  RandomTraining training(200, 5, 31, /*epochs=*/2);
  auto& [x, y, ts, ctx] = training;
  std::vector<std::int32_t> group(200);
  for (std::size_t i = 0; i < group.size(); ++i) group[i] = static_cast<std::int32_t>(i % 4);
  ts.group = group;
  const auto dir = fresh_dir("roundtrip");

  LstmOptions lo;
  lo.hidden_size = 12;
  lo.sequence_length = 4;
  lo.overlap = 1;
  auto lstm = make_lstm(lo);
  lstm->fit(ts, ctx);
  lstm->set_threshold(0.37f);
  const std::string lstm_file = lstm->save(dir);
  EXPECT_EQ(lstm_file, "lstm.pt");
  // A default-constructed model adopts the stored architecture (hidden 12, chunks of 4, overlap 1).
  auto lstm2 = make_lstm();
  lstm2->load(dir, lstm_file, 5);
  EXPECT_EQ(lstm2->score(x, group), lstm->score(x, group));
  EXPECT_EQ(lstm2->threshold(), 0.37f);

  auto ae = make_autoencoder();
  ae->fit(ts, ctx);
  const std::string ae_file = ae->save(dir);
  EXPECT_EQ(ae_file, "autoencoder.pt");
  // 5 features: 128-64-32 scaled to min(default, max(4, ceil(2w / 2^i))) = 10-5-4.
  const auto sidecar = nlohmann::json::parse(std::ifstream(dir / "autoencoder.json"));
  EXPECT_EQ(sidecar["options"]["layer_widths"], nlohmann::json({10, 5, 4}));
  EXPECT_EQ(sidecar["features"], 5);
  auto ae2 = make_autoencoder();
  ae2->load(dir, ae_file, 5);
  EXPECT_EQ(ae2->score(x), ae->score(x));
  EXPECT_EQ(ae2->threshold(), ae->threshold());
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, LoadingWithAnotherFeatureCountNamesBothCounts) {
  RandomTraining training(100, 5, 41, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  const auto dir = fresh_dir("features");
  for (auto* factory : {+[] { return make_lstm(); }, +[] { return make_autoencoder(); }}) {
    auto model = factory();
    model->fit(ts, ctx);
    const std::string file = model->save(dir);
    try {
      factory()->load(dir, file, 7);
      ADD_FAILURE() << "loading a 5-feature " << model->name() << " as 7 features succeeded";
    } catch (const core::Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("trained on 5 features"));
      EXPECT_THAT(e.what(), HasSubstr("has 7"));
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, LoadingACorruptParameterFileNamesTheFile) {
  RandomTraining training(100, 5, 51, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  const auto dir = fresh_dir("corrupt");
  auto lstm = make_lstm();
  lstm->fit(ts, ctx);
  const std::string file = lstm->save(dir);
  std::ofstream(dir / file, std::ios::trunc) << "not a torch archive";
  try {
    make_lstm()->load(dir, file, 5);
    ADD_FAILURE() << "loading a corrupt parameter file succeeded";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / file).string()));
    EXPECT_THAT(std::string(e.what()), ::testing::Not(HasSubstr("\n")));
  }
  std::filesystem::remove_all(dir / "lstm.json");
  EXPECT_THROW(make_lstm()->load(dir, file, 5), core::Error);
  std::filesystem::remove_all(dir);
}

// Flows as packet sequences: benign web fetches (handshake, one request, a few large response
// packets, teardown) and login attempts (handshake, then short request/response pairs every
// ~0.5 s: what a password guesser looks like). Per flow the aggregate sizes overlap; the rhythm
// and direction pattern do not.
struct PacketFlows {
  data::Matrix x;  // one dummy feature: the LSTM reads the packets
  std::vector<int> y;
  std::vector<data::PacketStep> steps;
  std::vector<std::size_t> offset{0};
  [[nodiscard]] data::PacketSequences view() const { return {steps, offset}; }
};

PacketFlows make_packet_flows(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<std::uint32_t> jitter(0, 40000);
  PacketFlows f;
  f.x = data::Matrix(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    const int attack = coin(rng);
    f.y.push_back(attack);
    auto add = [&](std::uint32_t size, std::int8_t dir, std::uint32_t gap, std::uint8_t flags) {
      f.steps.push_back({size, gap, dir, flags});
    };
    add(0, 1, 0, 0x02);
    add(0, -1, 300 + jitter(rng) / 100, 0x12);
    add(0, 1, 200, 0x10);
    if (attack) {
      const int tries = 6 + static_cast<int>(jitter(rng) % 8);
      for (int k = 0; k < tries; ++k) {
        add(20 + jitter(rng) % 20, 1, 450000 + jitter(rng), 0x18);
        add(30 + jitter(rng) % 20, -1, 2000 + jitter(rng) / 10, 0x18);
      }
    } else {
      add(200 + jitter(rng) % 300, 1, 1000 + jitter(rng), 0x18);
      const int parts = 2 + static_cast<int>(jitter(rng) % 10);
      for (int k = 0; k < parts; ++k) add(1400, -1, 100 + jitter(rng) / 50, 0x10);
      add(0, 1, 200, 0x10);
    }
    add(0, 1, 1000, 0x11);
    f.offset.push_back(f.steps.size());
  }
  return f;
}

// The first `k` packets of every flow.
PacketFlows prefixes(const PacketFlows& f, std::size_t k) {
  PacketFlows out;
  out.x = f.x;
  out.y = f.y;
  for (std::size_t r = 0; r + 1 < f.offset.size(); ++r) {
    const std::size_t end = std::min(f.offset[r + 1], f.offset[r] + k);
    out.steps.insert(out.steps.end(), f.steps.begin() + static_cast<std::ptrdiff_t>(f.offset[r]),
                     f.steps.begin() + static_cast<std::ptrdiff_t>(end));
    out.offset.push_back(out.steps.size());
  }
  return out;
}

double flow_auc(const std::vector<float>& scores, const std::vector<int>& y) {
  std::vector<float> pos, neg;
  for (std::size_t i = 0; i < y.size(); ++i) (y[i] ? pos : neg).push_back(scores[i]);
  return roc_auc(pos, neg);
}

TEST_F(TorchModels, PacketLstmLearnsLoginRhythmsAndJudgesAfterTheFirstPackets) {
  const PacketFlows train = make_packet_flows(1500, 71);
  const PacketFlows test = make_packet_flows(500, 72);
  LstmOptions o;
  o.epochs = 6;
  auto lstm = make_lstm(o);
  TrainSet ts;
  ts.x = &train.x;
  ts.y = train.y;
  ts.packets = train.view();
  lstm->fit(ts, TrainContext{});
  EXPECT_TRUE(lstm->reads_packets());

  const auto scores = lstm->score({test.x, {}, test.view()});
  EXPECT_GT(flow_auc(scores, test.y), 0.98);
  // An early verdict: after the handshake and one exchange (5 packets) the rhythm already shows.
  const PacketFlows early = prefixes(test, 5);
  EXPECT_GT(flow_auc(lstm->score({early.x, {}, early.view()}), test.y), 0.95);
  // Without packets there is nothing to judge: the lowest score, not a guess.
  const PacketFlows none = prefixes(test, 0);
  for (const float v : lstm->score({none.x, {}, none.view()})) EXPECT_EQ(v, 0.0f);
  // Rows without their packets are refused, not scored as empty flows.
  EXPECT_THROW((void)lstm->score(test.x), core::Error);

  const auto dir = fresh_dir("packet_lstm");
  const std::string file = lstm->save(dir);
  auto loaded = make_lstm();
  loaded->load(dir, file, 1);
  EXPECT_TRUE(loaded->reads_packets());
  EXPECT_EQ(loaded->score({test.x, {}, test.view()}), scores);

  // An absurd width in the sidecar is refused before anything is allocated.
  nlohmann::json sidecar;
  std::ifstream(dir / "lstm.json") >> sidecar;
  sidecar["options"]["packet_hidden_size"] = 100000000;
  std::ofstream(dir / "lstm.json", std::ios::trunc) << sidecar.dump();
  try {
    make_lstm()->load(dir, file, 1);
    ADD_FAILURE() << "loaded an LSTM of width 1e8";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lstm.json"));
    EXPECT_THAT(e.what(), HasSubstr("packet_hidden_size"));
  }
  sidecar["options"]["packet_hidden_size"] = 2048;  // in range, but the file cannot hold it
  std::ofstream(dir / "lstm.json", std::ios::trunc) << sidecar.dump();
  try {
    make_lstm()->load(dir, file, 1);
    ADD_FAILURE() << "loaded an LSTM larger than its parameter file";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lstm.pt holds"));
  }
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, LstmWithInputPacketsRefusesDataWithoutThem) {
  RandomTraining training(100, 5, 81, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  LstmOptions o;
  o.input = "packets";
  try {
    make_lstm(o)->fit(ts, TrainContext{});
    ADD_FAILURE() << "trained a packet LSTM without packets";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("packets"));
  }
  // "auto" falls back to labelling rows.
  auto lstm = make_lstm();
  lstm->fit(ts, ctx);
  EXPECT_FALSE(lstm->reads_packets());
}

TEST_F(TorchModels, AnLstmReadsNeighbourRowsOnlyWithSequencesLongerThanOneRow) {
  RandomTraining training(100, 5, 83, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  auto context = make_lstm();  // sequences of 32 rows
  context->fit(ts, ctx);
  EXPECT_TRUE(context->reads_neighbour_rows());
  LstmOptions o;
  o.sequence_length = 1;
  o.overlap = 0;
  auto alone = make_lstm(o);
  alone->fit(ts, ctx);
  EXPECT_FALSE(alone->reads_neighbour_rows());
  // What a bundle reads back says the same.
  for (const auto* model : {context.get(), alone.get()}) {
    const auto dir = fresh_dir(model->reads_neighbour_rows() ? "context" : "alone");
    const std::string file = model->save(dir);
    auto loaded = make_lstm();
    loaded->load(dir, file, x.cols);
    EXPECT_EQ(loaded->reads_neighbour_rows(), model->reads_neighbour_rows());
    // Alone, a row's score does not depend on the rows scored with it (up to the last bits of
    // LibTorch's products over another number of rows).
    const auto all = loaded->score(x);
    data::Matrix last(1, x.cols);
    std::copy_n(x.data() + (x.rows - 1) * x.cols, x.cols, last.values.begin());
    const float by_itself = loaded->score(last)[0];
    if (!model->reads_neighbour_rows()) {
      EXPECT_NEAR(by_itself, all.back(), 1e-5f);
    }
    std::filesystem::remove_all(dir);
  }
}

TEST_F(TorchModels, LstmRefusesAbsurdHiddenSizeWithOneLine) {
  RandomTraining training(100, 5, 91, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  auto lstm = make_lstm();
  lstm->fit(ts, ctx);
  const auto dir = fresh_dir("absurd");
  const std::string file = lstm->save(dir);
  nlohmann::json sidecar;
  std::ifstream(dir / "lstm.json") >> sidecar;
  sidecar["options"]["hidden_size"] = 100000000;
  std::ofstream(dir / "lstm.json", std::ios::trunc) << sidecar.dump();
  try {
    make_lstm()->load(dir, file, 5);
    ADD_FAILURE() << "loaded an LSTM of width 1e8";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lstm.json"));
    EXPECT_THAT(e.what(), HasSubstr("hidden_size"));
    EXPECT_THAT(std::string(e.what()), ::testing::Not(HasSubstr("\n")));
  }
  std::filesystem::remove_all(dir);
}

TEST_F(TorchModels, ScoringRejectsWrongShapesAndUntrainedModels) {
  RandomTraining training(50, 5, 61, /*epochs=*/1);
  auto& [x, y, ts, ctx] = training;
  EXPECT_THROW((void)make_lstm()->score(x), core::Error);
  EXPECT_THROW((void)make_autoencoder()->score(x), core::Error);

  auto lstm = make_lstm();
  lstm->fit(ts, ctx);
  EXPECT_THROW((void)lstm->score(random_matrix(10, 6, 1)), core::Error);
  const std::vector<std::int32_t> short_group(3, 0);
  EXPECT_THROW((void)lstm->score(x, short_group), core::Error);
  EXPECT_TRUE(lstm->score(data::Matrix(0, 5)).empty());

  TrainSet unlabeled;
  unlabeled.x = &x;
  EXPECT_THROW(make_lstm()->fit(unlabeled, ctx), core::Error);
  LstmOptions bad;
  bad.sequence_length = 0;
  EXPECT_THROW((void)make_lstm(bad), core::Error);
  LstmOptions bad_overlap;
  bad_overlap.sequence_length = 8;
  bad_overlap.overlap = 8;
  EXPECT_THROW((void)make_lstm(bad_overlap), core::Error);
  EXPECT_THROW(set_torch_threads(0), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::torch

#endif  // NETSENTRY_HAVE_TORCH || USE_DISTRIBUTED
