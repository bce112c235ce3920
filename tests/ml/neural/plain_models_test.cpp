// Tests for the torch-free scorers (src/ml/neural/autoencoder.h, packet_lstm.h,
// traffic_forecaster.h) against the LibTorch models they replace when scoring, on the same saved
// weights; and for a bundle's choice between them (ml::Bundle::load): with every plain weights
// file it never loads the LibTorch module, without them (older bundles) it does, and a damaged or
// mismatched weights file is one error naming the file and the mismatch.
// Compiled only with LibTorch (the reference models), like tests/ml/torch_models_test.cpp.
#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "ml/bundle.h"
#include "ml/isolation_forest.h"
#include "ml/neural/autoencoder.h"
#include "ml/neural/packet_lstm.h"
#include "ml/neural/traffic_forecaster.h"
#include "ml/torch/torch_models.h"
#include "ml/torch_module.h"

namespace netsentry::ml::neural {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() /
             ("netsentry_plain_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The reconstruction MSE and each feature's squared error agree with LibTorch's to float
// rounding: both sum float products of up to 128 terms in different orders (relative ~1e-6 on
// each output), and recon - input cancels most of a value's magnitude, so a squared error keeps
// a relative error of about 1e-5 of the values it came from. 1e-4 relative plus 1e-6 absolute
// leaves a margin of ten while a wrong weight layout (transposed, a layer off by one, a missing
// bias) moves scores by whole percents.
void expect_close(float plain, float reference) {
  EXPECT_NEAR(plain, reference, 1e-4f * std::abs(reference) + 1e-6f);
}

// Rows of 12 features: 3 latent factors mixed, plus noise; one row in five off that manifold.
data::Matrix manifold_rows(std::size_t rows, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> a(12 * 3);
  std::mt19937 fixed(5);
  for (float& v : a) v = n(fixed);
  data::Matrix x(rows, 12);
  for (std::size_t r = 0; r < rows; ++r) {
    const float z[3] = {n(rng), n(rng), n(rng)};
    for (std::size_t c = 0; c < 12; ++c) {
      float v = r % 5 == 0 ? 2.0f * n(rng) : 0.05f * n(rng);
      for (std::size_t k = 0; k < 3; ++k) v += a[c * 3 + k] * z[k];
      x.at(r, c) = std::exp(v);  // heavy-tailed, as flow features are
    }
  }
  return x;
}

struct Flows {
  std::vector<data::PacketStep> steps;
  std::vector<std::size_t> offset{0};
  std::vector<int> y;
  [[nodiscard]] data::PacketSequences view() const { return {steps, offset}; }
};

// Flows of 0..12 packets; an attack's packets are small, regular and from the initiator.
Flows packet_flows(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::uint32_t> size(0, 1460), gap(0, 2'000'000), len(0, 12);
  Flows f;
  for (std::size_t i = 0; i < n; ++i) {
    const bool attack = i % 3 == 0;
    const std::uint32_t packets = len(rng);
    for (std::uint32_t t = 0; t < packets; ++t) {
      f.steps.push_back({attack ? 40 + size(rng) % 20 : size(rng),
                         t == 0 ? 0 : (attack ? 100'000 : gap(rng)),
                         static_cast<std::int8_t>(attack || t % 2 == 0 ? 1 : -1),
                         static_cast<std::uint8_t>(t == 0 ? 0x02 : 0x18)});
    }
    f.offset.push_back(f.steps.size());
    f.y.push_back(attack ? 1 : 0);
  }
  return f;
}

TEST(PlainModels, AutoencoderScoresAndFeatureErrorsMatchLibTorchOnTheSameWeights) {
  for (const char* transform : {"quantile", "both", "none"}) {
    SCOPED_TRACE(transform);
    const data::Matrix x = manifold_rows(600, 1);
    const data::Matrix test = manifold_rows(333, 2);  // not a multiple of the row block
    std::vector<int> y(x.rows, 0);
    torch::AutoencoderOptions o;
    o.transform = transform;
    o.epochs = 3;
    o.score_batch = 100;  // several batches, the last one short
    auto reference = torch::make_autoencoder(o);
    TrainSet ts;
    ts.x = &x;
    ts.y = y;
    reference->fit(ts, {});
    const fs::path dir = fresh_dir(std::string("ae_") + transform);
    const std::string file = reference->save(dir);
    EXPECT_EQ(file, "autoencoder.pt");
    auto plain = make_autoencoder();
    plain->load(dir, "autoencoder.weights", x.cols);
    EXPECT_EQ(plain->threshold(), reference->threshold());

    const std::vector<float> expected = reference->score(test);
    for (const int threads : {1, 2}) {
      plain->set_threads(threads);
      const std::vector<float> got = plain->score(test);
      ASSERT_EQ(got.size(), expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) expect_close(got[i], expected[i]);
    }
    std::vector<std::size_t> rows{0, 5, 332, 7};
    const auto* ref_explainer = dynamic_cast<const torch::ReconstructionExplainer*>(&*reference);
    const auto* plain_explainer = dynamic_cast<const torch::ReconstructionExplainer*>(&*plain);
    ASSERT_NE(plain_explainer, nullptr);
    const data::Matrix want = ref_explainer->feature_errors(test, rows);
    const data::Matrix have = plain_explainer->feature_errors(test, rows);
    ASSERT_EQ(have.cols, x.cols);
    ASSERT_EQ(have.values.size(), want.values.size());
    for (std::size_t i = 0; i < have.values.size(); ++i)
      expect_close(have.values[i], want.values[i]);
    fs::remove_all(dir);
  }
}

TEST(PlainModels, PacketLstmScoresExactlyAsTheLibTorchModel) {
  const Flows train = packet_flows(600, 3);
  const Flows test = packet_flows(300, 4);
  const data::Matrix x(600, 2), x_test(300, 2);
  torch::LstmOptions o;
  o.input = "packets";
  o.epochs = 2;
  o.packet_hidden_size = 10;  // not a multiple of the kernel's four lanes
  auto reference = torch::make_lstm(o);
  TrainSet ts;
  ts.x = &x;
  ts.y = train.y;
  ts.packets = train.view();
  reference->fit(ts, {});
  const fs::path dir = fresh_dir("lstm");
  (void)reference->save(dir);
  auto plain = make_packet_lstm();
  plain->load(dir, "lstm.weights", 2);
  EXPECT_TRUE(plain->reads_packets());
  // The same kernel over the same float32 weights: identical, not merely close (the LibTorch
  // model's fit() checked that kernel against LibTorch's own LSTM).
  EXPECT_EQ(plain->score({x_test, {}, test.view()}), reference->score({x_test, {}, test.view()}));
  EXPECT_THROW((void)plain->score(x_test), core::Error);  // rows without their packets

  // A row-sequence LSTM has no torch-free scorer, and says so.
  json sidecar;
  std::ifstream(dir / "lstm.json") >> sidecar;
  sidecar["options"]["input"] = "rows";
  std::ofstream(dir / "lstm.json", std::ios::trunc) << sidecar.dump();
  try {
    make_packet_lstm()->load(dir, "lstm.weights", 2);
    ADD_FAILURE() << "a row-sequence LSTM loaded into the packet scorer";
  } catch (const core::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lstm.json"));
    EXPECT_THAT(e.what(), HasSubstr("row-sequence"));
  }
  fs::remove_all(dir);
}

TEST(PlainModels, ForecasterForecastsExactlyAsTheLibTorchForecaster) {
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<double> series(700);
  for (std::size_t i = 0; i < series.size(); ++i) {
    series[i] = (600'000 + 500'000 * std::sin(2 * std::numbers::pi * double(i) / 120.0)) *
                std::exp(noise(rng));
  }
  torch::ForecasterOptions o;
  o.epochs = 2;
  o.hidden_size = 10;
  auto trained = torch::make_traffic_forecaster(o);
  (void)trained->fit(series, {});
  const fs::path dir = fresh_dir("forecaster");
  trained->save(dir);
  EXPECT_TRUE(forecaster_has_plain_weights(dir));
  auto reference = torch::make_traffic_forecaster();
  reference->load(dir);
  auto plain = make_traffic_forecaster();
  plain->load(dir);
  EXPECT_EQ(plain->window(), reference->window());
  EXPECT_EQ(plain->band_quantile(), reference->band_quantile());
  EXPECT_EQ(plain->summary().validation_windows, reference->summary().validation_windows);
  const std::span<const double> windows(series.data(), 60 * 11);
  const auto want = reference->predict_batch(windows);
  const auto have = plain->predict_batch(windows);
  ASSERT_EQ(have.size(), 11u);
  for (std::size_t k = 0; k < have.size(); ++k) {
    EXPECT_EQ(have[k].expected, want[k].expected);
    EXPECT_EQ(have[k].upper, want[k].upper);
    EXPECT_EQ(have[k].scale, want[k].scale);
    EXPECT_EQ(plain->residual(series[60 * (k + 1)], have[k]),
              reference->residual(series[60 * (k + 1)], want[k]));
  }
  const auto one = plain->predict(windows.subspan(0, 60));
  EXPECT_EQ(one.location, have[0].location);
  plain->set_false_alarm_rate(0.01);
  reference->set_false_alarm_rate(0.01);
  EXPECT_EQ(plain->band_quantile(), reference->band_quantile());
  EXPECT_THROW(plain->save(dir), core::Error);

  // A forecaster saved before the plain weights (no "weights_file") is not taken for one.
  json sidecar;
  std::ifstream(dir / "traffic_forecaster.json") >> sidecar;
  sidecar.erase("weights_file");
  std::ofstream(dir / "traffic_forecaster.json", std::ios::trunc) << sidecar.dump();
  EXPECT_FALSE(forecaster_has_plain_weights(dir));
  EXPECT_THROW(make_traffic_forecaster()->load(dir), core::Error);
  fs::remove_all(dir);
}

// A bundle of an Isolation Forest, an autoencoder and a packet LSTM, trained here through the
// linked LibTorch models and saved with their plain weights.
class PlainBundle : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_dir("bundle");
    data::Dataset d;
    const data::Matrix raw = manifold_rows(400, 6);
    for (std::size_t c = 0; c < raw.cols; ++c) {
      data::Column col;
      col.name = "f" + std::to_string(c);
      for (std::size_t r = 0; r < raw.rows; ++r) col.values.push_back(raw.at(r, c));
      d.columns.push_back(std::move(col));
    }
    flows_ = packet_flows(raw.rows, 7);
    d.y = flows_.y;
    for (std::size_t r = 0; r < raw.rows; ++r)
      d.origin.push_back({0, static_cast<std::uint32_t>(r)});
    Bundle b;
    b.preprocessor.fit(d);
    x_ = b.preprocessor.transform(d);
    TrainSet ts;
    ts.x = &x_;
    ts.y = flows_.y;
    ts.packets = flows_.view();
    TrainContext ctx;
    ctx.epochs = 2;
    torch::LstmOptions lo;
    lo.input = "packets";
    b.models.push_back(std::make_unique<IsolationForest>());
    b.models.push_back(torch::make_lstm(lo));
    b.models.push_back(torch::make_autoencoder());
    for (auto& m : b.models) {
      m->fit(ts, ctx);
      b.ensemble.set_model_threshold(std::string(m->name()), m->threshold());
    }
    b.ensemble.set_mode(EnsembleMode::kVote);
    expected_ = b.score({x_, {}, flows_.view()});
    b.save(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void edit(const std::string& name, const std::function<void(json&)>& fn) const {
    json doc;
    std::ifstream(dir_ / name) >> doc;
    fn(doc);
    std::ofstream(dir_ / name, std::ios::trunc) << doc.dump(2);
  }
  std::string load_error() const {
    try {
      (void)Bundle::load(dir_);
    } catch (const core::Error& e) {
      return e.what();
    }
    return "loaded";
  }
  void expect_scores(const Bundle& b) const {
    const ModelScores got = b.score({x_, {}, flows_.view()});
    for (const char* name : {"isolation_forest", "lstm", "autoencoder"}) {
      SCOPED_TRACE(name);
      ASSERT_EQ(got.at(name).size(), expected_.at(name).size());
      for (std::size_t i = 0; i < got.at(name).size(); ++i) {
        expect_close(got.at(name)[i], expected_.at(name)[i]);
      }
    }
  }

  fs::path dir_;
  data::Matrix x_;
  Flows flows_;
  ModelScores expected_;
};

TEST_F(PlainBundle, ManifestListsThePlainWeightsAndScoringNeverLoadsLibTorch) {
  if (torch_module::loaded()) GTEST_SKIP() << "another test of this process loaded the module";
  json manifest;
  std::ifstream(dir_ / "manifest.json") >> manifest;
  EXPECT_EQ(manifest["models"]["autoencoder"]["weights"], "autoencoder.weights");
  EXPECT_EQ(manifest["models"]["lstm"]["weights"], "lstm.weights");
  EXPECT_FALSE(manifest["models"]["isolation_forest"].contains("weights"));
  const Bundle b = Bundle::load(dir_, 2);
  expect_scores(b);
  EXPECT_FALSE(torch_module::loaded());
}

TEST_F(PlainBundle, ABundleWithoutThePlainWeightsStillScoresThroughTheModule) {
  if (!torch_module::available()) GTEST_SKIP() << "the LibTorch module is not beside the test";
  // One model without them is enough for the whole bundle to go through LibTorch.
  edit("manifest.json", [](json& m) { m["models"]["lstm"].erase("weights"); });
  fs::remove(dir_ / "lstm.weights");
  const Bundle b = Bundle::load(dir_);
  expect_scores(b);
  EXPECT_TRUE(torch_module::loaded());
}

TEST_F(PlainBundle, ADamagedOrMismatchedWeightsFileIsOneErrorNamingItAndTheMismatch) {
  const std::string weights = (dir_ / "autoencoder.weights").string();
  const auto size = fs::file_size(weights);
  fs::resize_file(weights, size - 100);
  std::string e = load_error();
  EXPECT_THAT(e, HasSubstr(weights));
  EXPECT_THAT(e, HasSubstr("truncated"));

  // The architecture in the sidecar no longer fits the weights.
  fs::resize_file(weights, size);  // zero-filled: damaged instead of short
  EXPECT_THAT(load_error(), HasSubstr("checksum"));
  PlainBundle::TearDown();
  SetUp();
  edit("autoencoder.json", [](json& s) { s["options"]["layer_widths"][0] = 7; });
  e = load_error();
  EXPECT_THAT(e, HasSubstr(weights));
  EXPECT_THAT(e, HasSubstr("tensor 'layers.0.weight' has shape"));
  EXPECT_THAT(e, HasSubstr("autoencoder.json needs [7, "));

  // A listed weights file that is missing, or that another model's sidecar would describe.
  PlainBundle::TearDown();
  SetUp();
  fs::remove(dir_ / "lstm.weights");
  EXPECT_THAT(load_error(), HasSubstr("lstm.weights, which is missing"));
  edit("manifest.json", [](json& m) { m["models"]["lstm"]["weights"] = "autoencoder.weights"; });
  EXPECT_THAT(load_error(), HasSubstr("must share a name"));
}

TEST(PlainWeights, AddingThemToAnOldBundleKeepsItsScores) {
  if (!torch_module::available()) GTEST_SKIP() << "the LibTorch module is not beside the test";
  const fs::path dir = fresh_dir("upgrade");
  const data::Matrix x = manifold_rows(300, 8);
  std::vector<int> y(x.rows, 0);
  TrainSet ts;
  ts.x = &x;
  ts.y = y;
  Bundle b;
  data::Dataset d;
  for (std::size_t c = 0; c < x.cols; ++c) {
    data::Column col;
    col.name = "f" + std::to_string(c);
    for (std::size_t r = 0; r < x.rows; ++r) col.values.push_back(x.at(r, c));
    d.columns.push_back(std::move(col));
  }
  d.y = y;
  for (std::size_t r = 0; r < x.rows; ++r) d.origin.push_back({0, static_cast<std::uint32_t>(r)});
  b.preprocessor.fit(d);
  const data::Matrix px = b.preprocessor.transform(d);
  ts.x = &px;
  torch::AutoencoderOptions o;
  o.epochs = 2;
  b.models.push_back(torch::make_autoencoder(o));
  b.models[0]->fit(ts, {});
  b.ensemble.set_model_threshold("autoencoder", b.models[0]->threshold());
  b.ensemble.set_mode(EnsembleMode::kVote);
  const std::vector<float> expected = b.models[0]->score(px);
  b.save(dir);
  // As a bundle from before the plain weights: no file, no manifest entry, no sidecar field.
  fs::remove(dir / "autoencoder.weights");
  json manifest;
  std::ifstream(dir / "manifest.json") >> manifest;
  manifest["models"]["autoencoder"].erase("weights");
  std::ofstream(dir / "manifest.json", std::ios::trunc) << manifest.dump(2);
  json sidecar;
  std::ifstream(dir / "autoencoder.json") >> sidecar;
  sidecar.erase("weights_file");
  std::ofstream(dir / "autoencoder.json", std::ios::trunc) << sidecar.dump(2);

  const auto written = add_plain_weights(dir);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0], dir / "autoencoder.weights");
  std::ifstream(dir / "manifest.json") >> manifest;
  EXPECT_EQ(manifest["models"]["autoencoder"]["weights"], "autoencoder.weights");
  auto plain = make_autoencoder();
  plain->load(dir, "autoencoder.weights", px.cols);
  const std::vector<float> got = plain->score(px);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) expect_close(got[i], expected[i]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace netsentry::ml::neural

#endif  // NETSENTRY_HAVE_TORCH || USE_DISTRIBUTED
