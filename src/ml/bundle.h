// Provides ml::Bundle, a trained detector as one folder: manifest.json (format version, feature
// names and order, preprocessing, each model's file, threshold and metrics, ensemble settings,
// training-data summary and hash) plus each model in its library's native format
// (isolation_forest.json, random_forest.json (XGBoost JSON), lstm.pt / autoencoder.pt + their JSON
// sidecars + their plain weights lstm.weights / autoencoder.weights, ml/neural/weights_file.h).
// Loading validates everything and says precisely what does not match. When every LibTorch model
// of the manifest lists its plain weights ("weights"), load() reads those into the torch-free
// scorers of ml/neural/ and LibTorch is never loaded; otherwise (bundles from before them) the
// LibTorch models load through the module as before.
// Thread rules: build/load on one thread; score() is const and may run concurrently.
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/preprocess.h"
#include "ml/ensemble.h"
#include "ml/model.h"

namespace netsentry::ml {

inline constexpr int kBundleFormatVersion = 1;
inline constexpr std::array<std::string_view, 4> kModelNames = {"isolation_forest", "random_forest",
                                                                "lstm", "autoencoder"};

// Which models this build can make (LSTM and autoencoder need LibTorch).
[[nodiscard]] bool model_available(std::string_view name);
// A fresh, untrained model by name with its default options; throws core::Error for an unknown
// name (listing the known ones) or a model this build lacks.
[[nodiscard]] std::unique_ptr<Model> make_model(std::string_view name);
// Sets scoring threads on models that have their own pool (forests, XGBoost, the packet LSTM, the
// autoencoder) and LibTorch's intra-op threads when the LibTorch module is loaded.
void set_model_threads(Model& model, int threads);
// True for the models LibTorch trains (the LSTM and the autoencoder).
[[nodiscard]] bool is_neural(std::string_view name);

struct Bundle {
  data::Preprocessor preprocessor;
  std::vector<std::unique_ptr<Model>> models;  // in kModelNames order
  Ensemble ensemble;
  nlohmann::json training = nlohmann::json::object();  // data summary, hash, seed, times
  nlohmann::json metrics = nlohmann::json::object();   // name -> {validation: {...}, test: {...}}
  // The validation rows' model scores and labels the ensemble was fitted on (a class-stratified
  // sample of at most kMaxValidationRows), saved as validation_scores.json, so `evaluate
  // --ablation` can refit the fusion without a model exactly as train would have. Empty in
  // bundles from before it was kept.
  ModelScores validation_scores;
  std::vector<int> validation_y;
  // Each of those rows' number in the training data (0-based, over the files in the order read),
  // saved as "rows" beside them: which rows they were. Empty in bundles from before it was kept.
  std::vector<std::size_t> validation_rows;
  static constexpr std::size_t kMaxValidationRows = 20000;
  // Models scored side by side (each on one thread) by score(); load(dir, threads) sets it. One
  // model per core beats every model on every core here: LibTorch slows down with 2 threads on
  // this kind of work and the forests' per-call fan-out is small.
  int score_threads = 1;

  [[nodiscard]] const Model* find(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> model_names() const;
  // Every model's scores on preprocessed rows, plus "ensemble". With `seconds`, also the wall
  // time each model (and the ensemble) took, by name.
  [[nodiscard]] ModelScores score(const ScoreInput& input,
                                  std::map<std::string, double>* seconds = nullptr) const;
  [[nodiscard]] ModelScores score(const data::Matrix& x, std::span<const std::int32_t> group = {},
                                  std::map<std::string, double>* seconds = nullptr) const {
    return score(ScoreInput{x, group}, seconds);
  }
  // Like score(), for callers that need the ensemble's decision and full scores only for the
  // rows it flags (the live flow scorer). In vote mode it scores in stages: each forest alone
  // (cheap; the heaviest vote first), then the other models (the LSTM and autoencoder) side by
  // side, each stage on the rows the stages before left open. A row whose votes so far could not
  // exceed the quorum even if every model not yet scored voted for it is decided normal; with the
  // shipped weights the Random Forest's "no" decides a row alone. The scores of the models a
  // decided row never reached are NaN (no vote). Every row's decision equals score()'s; a flagged
  // row's scores are all computed; a decided row's ensemble score may be lower than score()'s
  // (votes that could not change it are missing). Other modes, or a row-sequence LSTM, score
  // every model on every row.
  struct CascadeStats {
    std::size_t rows = 0;
    std::size_t second_stage_rows = 0;  // rows the costly (last-stage) models scored
  };
  // With `seconds`, also the wall time each model took (both stages) and the ensemble's.
  [[nodiscard]] ModelScores score_cascade(const ScoreInput& input, CascadeStats* stats = nullptr,
                                          std::map<std::string, double>* seconds = nullptr) const;
  // True when score_cascade() skips rows: vote mode with weighted forests and other models.
  [[nodiscard]] bool cascades() const;
  // True when a model reads each row's first packets (ScoreInput::packets): callers then pass
  // them (the packet LSTM; see ml/torch/torch_models.h).
  [[nodiscard]] bool reads_packets() const;
  // The threshold of a model, or the ensemble's for "ensemble".
  [[nodiscard]] float threshold(std::string_view name) const;

  // Writes the folder (created if needed); throws core::Error naming the path on failure.
  void save(const std::filesystem::path& dir) const;
  // Throws core::Error saying what does not match (missing file, version, feature count, ...).
  // With threads > 1 and several models, models score concurrently, one thread each; a single
  // model gets all the threads.
  // Every structure is validated (types, sizes, indices, finite numbers, files inside the folder,
  // an ensemble that can score); any failure, library errors included, is one core::Error naming
  // the file and the field.
  [[nodiscard]] static Bundle load(const std::filesystem::path& dir, int threads = 1);

 private:
  [[nodiscard]] static Bundle load_checked(const std::filesystem::path& dir,
                                           const std::filesystem::path& manifest, int threads);
};

// Adds the plain weights files (ml/neural/weights_file.h) to a bundle saved before they existed,
// without retraining: for the autoencoder, the packet LSTM and <dir>/traffic/'s forecaster, the
// LibTorch module writes <name>.weights from <name>.pt (the same float32 values), the model's
// sidecar gains "weights_file" and the manifest's entry "weights"; nothing else changes. Returns
// the files written (a row-sequence LSTM has no torch-free scorer and is left out, so the bundle
// keeps loading through LibTorch). Throws core::Error naming the file that does not match.
std::vector<std::filesystem::path> add_plain_weights(const std::filesystem::path& dir);

// FNV-1a 64 of the files' bytes, as 16 hex digits: identifies the training data in the manifest.
[[nodiscard]] std::string hash_files(const std::vector<std::string>& files);

}  // namespace netsentry::ml
