// Provides the LibTorch-backed detectors behind plain factories: an LSTM sequence classifier and a
// dense autoencoder, both as ml::Model, plus the thread setup LibTorch needs. This header does not
// include torch, so the rest of the project compiles fast; src/ml/torch/ is the only LibTorch user.
// The binary does not link these: it reaches them through ml/torch_module.h, which dlopens
// libnetsentry_torch.so (these sources) and calls the factories through TorchModuleApi below.
// Thread rules: as ml::Model (fit/load from one thread, score() const and concurrent-safe).
// set_torch_threads() is process-wide: call it once from main before any model is used.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "data/matrix.h"
#include "ml/model.h"

namespace netsentry::ml::torch {

// LSTM sequence labeller: each group's rows (in time order) are cut into chunks of
// `sequence_length` consecutive rows; the LSTM runs over a chunk from a zero state and emits a
// score for EVERY row, so each row costs one LSTM step. Row i's context is its chunk's rows up to
// and including i; with `overlap` > 0 a chunk after the first of a group also re-reads the previous
// `overlap` rows as unscored warm-up, so every row past a group's start sees at least `overlap`
// earlier rows. Training uses the same chunks (loss at every scored step), so scoring matches it
// exactly, and chunks are independent: scoring a batch equals scoring its groups separately.
// Optional linear input projection to `input_projection` dims (0 = none) before the LSTM.
// score = sigmoid probability that the row is an attack.
//
// With input "packets" the LSTM reads instead each flow's first packets (ScoreInput::packets: per
// packet log payload size, direction, log gap and TCP flags; the representation of nPrint /
// FS-Net-style flow classifiers) and labels the flow after each of them: the score after k
// packets is P(attack | first k packets), so scoring a flow's first packets is its early verdict
// and scoring all of them (up to max_packets) its final one. A flow without packets scores 0 (no
// evidence). "auto" (the default) picks packets when the training data carries them.
struct LstmOptions {
  int input_projection = 0;
  int hidden_size = 64;
  int layers = 1;
  float dropout = 0.2f;  // between LSTM layers (ignored with one layer)
  float learning_rate = 3e-3f;
  int batch_size = 8;        // chunks per optimizer step
  int epochs = 20;           // TrainContext::epochs > 0 overrides
  int patience = 3;          // early stopping on validation loss; the best weights are kept
  float lr_factor = 0.5f;    // ReduceLROnPlateau: lr *= factor ...
  int lr_patience = 1;       // ... after more than this many epochs without improvement
  int sequence_length = 32;  // scored rows per chunk
  int overlap = 4;           // warm-up rows re-read from the previous chunk, < sequence_length
  float threshold = 0.5f;
  // Fraction of training chunks held out for early stopping when TrainSet has no validation part.
  float validation_fraction = 0.1f;
  int score_batch = 8192;       // rows (summed over chunks) per forward pass when scoring
  std::string input = "auto";   // "auto" | "rows" | "packets"
  int max_packets = 32;         // packets mode: steps read per flow
  int packet_hidden_size = 24;  // packets mode: LSTM width
  int packet_batch_size = 256;  // packets mode: flows per optimizer step
  int max_train_flows = 60000;  // packets mode: a class-stratified sample beyond this
};

// Dense autoencoder, ReLU between layers, linear output, MSE loss. Encoder widths are `hidden`
// (decoder mirrors it without the bottleneck). With scale_to_input, layer i (0-based) is
// min(hidden[i], max(4, ceil(2 * width / 2^i))), i.e. 2w, w, w/2 for 3 layers, so a 20-feature
// input gets 40-20-10-20-40 instead of 128-64-32-64-128 and the bottleneck always compresses.
// Inputs first go through a quantile transform to normal scores fitted on the benign training rows
// (transform = "quantile", see feature_transform.h; "none" = the preprocessor's output as is). The
// threshold is the threshold_percentile of the reconstruction MSE of benign rows held out from the
// weights' training; feature_errors() are in the transformed space (how unusual for benign).
struct AutoencoderOptions {
  std::vector<int> hidden = {128, 64, 32};
  bool scale_to_input = true;
  float learning_rate = 1e-3f;
  int batch_size = 256;
  int epochs = 50;                     // TrainContext::epochs > 0 overrides
  int patience = 5;                    // early stopping on validation reconstruction loss
  float threshold_percentile = 95.0f;  // of held-out benign rows' reconstruction MSE
  std::string transform = "quantile";  // "quantile" | "standard" | "both" | "none"
  float validation_fraction = 0.1f;
  int score_batch = 4096;
};

// Extra interface of the autoencoder: which features it reconstructs worst (alert evidence).
class ReconstructionExplainer {
 public:
  virtual ~ReconstructionExplainer() = default;
  // Squared reconstruction error of every feature, one output row per entry of `rows` (indices
  // into x). Throws core::Error on a wrong column count or an out-of-range row.
  [[nodiscard]] virtual data::Matrix feature_errors(const data::Matrix& x,
                                                    std::span<const std::size_t> rows) const = 0;

  [[nodiscard]] std::vector<float> feature_errors(const data::Matrix& x, std::size_t row) const {
    const std::size_t one[] = {row};
    return std::move(feature_errors(x, one).values);
  }
};

// Model::save(dir) writes <name>.pt (parameters) and <name>.json (format version, feature count,
// threshold, options). load() adopts the architecture stored there, whatever this object's options.
[[nodiscard]] std::unique_ptr<Model> make_lstm(const LstmOptions& options = {});
// The returned model also implements ReconstructionExplainer (dynamic_cast to reach it).
[[nodiscard]] std::unique_ptr<Model> make_autoencoder(const AutoencoderOptions& options = {});

// Forecaster of one per-second traffic series (bytes/s). Its input is the last `window` values,
// transformed as x = (log1p(max(0, v)) - mean) / std with the training series' mean and std; an
// LSTM (one layer) reads them and a linear head gives the next value's predicted location mu and
// scale sigma = softplus(s) + min_scale, trained with the Gaussian negative log-likelihood (so the
// model says how sure it is: a noisy hour gets a wide band, a steady one a narrow one).
// The band is calibrated on a time-ordered validation tail the weights never trained on: the
// standardized residuals r = (x - mu) / sigma give the quantile q_hi with P(r > q_hi) = the target
// false-alarm rate (an exponential tail fitted to the top residuals when the tail holds too few
// points for the rate; never below the Gaussian quantile for the rate, since a few hundred
// validation points cannot resolve a 0.1 % tail), and upper = expm1((mu + q_hi * sigma) * std +
// mean) in bytes/s.
struct ForecasterOptions {
  int window = 60;  // input values (seconds at one sample a second)
  int hidden_size = 32;
  float learning_rate = 5e-3f;
  int batch_size = 128;  // windows per optimizer step
  int epochs = 30;       // TrainContext::epochs > 0 overrides
  int patience = 4;      // early stopping on the validation NLL; the best weights are kept
  // The last fraction of the windows (in time order) is held out for early stopping and the band.
  float validation_fraction = 0.2f;
  // Training windows beyond this are subsampled (evenly spread over the series) so a long series
  // trains in bounded time.
  int max_train_windows = 4096;
  float min_scale = 0.02f;         // floor of sigma, in standardized units
  double false_alarm_rate = 1e-3;  // share of normal points allowed above the band
};

// One forecast of the next value.
struct Forecast {
  double expected = 0;  // bytes/s: the predicted median, expm1(mu * std + mean)
  double upper = 0;     // bytes/s: the band's upper edge
  double location = 0;  // mu, in standardized transformed units
  double scale = 0;     // sigma, same units
};

// What fit() measured, also stored in (and read back from) the sidecar.
struct ForecasterSummary {
  std::size_t points = 0;  // series length
  std::size_t train_windows = 0;
  std::size_t validation_windows = 0;
  int epochs_run = 0;
  double train_seconds = 0;
  double validation_nll = 0;  // mean Gaussian NLL per point (standardized units, with log(2 pi))
  double validation_mae = 0;  // bytes/s, forecast vs actual
  double constant_mae = 0;    // bytes/s, the training median as a constant forecast
  double band_quantile = 0;   // q_hi
  double validation_alarm_rate = 0;  // share of validation points above the calibrated band
  double false_alarm_rate = 0;       // the target q_hi was calibrated for
};

// Thread rules: fit/load/set_false_alarm_rate from one thread while nothing predicts;
// predict/predict_batch/residual are const and safe to call concurrently. predict() does not use
// LibTorch operators (a hand-written LSTM step over the trained weights, ~0.1 ms for 60 values),
// because per-operator overhead would make one forecast cost several times more.
class TrafficForecaster {
 public:
  virtual ~TrafficForecaster() = default;

  // Trains on a series in time order (bytes/s, one value per step). Throws core::Error when the
  // series is too short (window + 40 points), holds a negative or non-finite value, or training
  // diverges.
  virtual ForecasterSummary fit(std::span<const double> series, const TrainContext& ctx) = 0;
  // Forecast of the value after `last_window` (exactly window() values, oldest first).
  [[nodiscard]] virtual Forecast predict(std::span<const double> last_window) const = 0;
  // Forecasts for windows.size() / window() windows laid out one after another.
  [[nodiscard]] virtual std::vector<Forecast> predict_batch(
      std::span<const double> windows) const = 0;
  // (transformed value - location) / scale: how many predicted sigmas `bytes_per_second` is above
  // the forecast; the band's edge is at band_quantile().
  [[nodiscard]] virtual double residual(double bytes_per_second,
                                        const Forecast& forecast) const = 0;
  [[nodiscard]] virtual std::size_t window() const = 0;
  [[nodiscard]] virtual double band_quantile() const = 0;
  // Re-derives q_hi for another rate from the stored validation residuals (no retraining).
  virtual void set_false_alarm_rate(double rate) = 0;
  [[nodiscard]] virtual const ForecasterSummary& summary() const = 0;
  // Writes <dir>/traffic_forecaster.pt and <dir>/traffic_forecaster.json (creates dir).
  virtual void save(const std::filesystem::path& dir) const = 0;
  // Reads what save() wrote; the stored architecture wins over this object's options. Throws
  // core::Error naming the file and the field that is missing or does not match.
  virtual void load(const std::filesystem::path& dir) = 0;
};

// Throws core::Error on invalid options.
[[nodiscard]] std::unique_ptr<TrafficForecaster> make_traffic_forecaster(
    const ForecasterOptions& options = {});

// Sets LibTorch's intra-op threads to n and pins OpenBLAS's own pool to 1 (two pools on the same
// cores contend badly). The inter-op pool can only be sized once per process, so later calls change
// intra-op threads only. Threads that already ran torch work keep their OpenMP team size.
// Measured on a busy 2-core machine, 2 threads gained nothing and, with libgomp's default
// spin-waiting, were 4-60x slower; prefer 1, or export OMP_WAIT_POLICY=passive before start.
// Throws core::Error when n < 1.
void set_torch_threads(int n);

// Writes <dir>/<stem>.weights (ml/neural/weights_file.h) from an existing <dir>/<stem>.pt of a
// model saved before the plain weights existed, naming the tensors as its sidecar's "parameters"
// list does (which must match the file's count and shapes). No retraining: the same values.
// Throws core::Error naming the file.
void export_weights(const std::filesystem::path& dir, const std::string& file);

// "2.x.y": the LibTorch version the module was built against.
[[nodiscard]] const char* torch_version();

// What libnetsentry_torch.so exports, as one table behind one C symbol (kModuleEntryPoint). The
// loader refuses a module whose api_version, struct size or netsentry version differ from its
// own, so a stale module beside a newer binary is reported, not called.
inline constexpr int kModuleApiVersion = 4;
inline constexpr const char* kModuleEntryPoint = "netsentry_torch_module_v4";
struct TorchModuleApi {
  int api_version;
  std::size_t struct_size;
  const char* netsentry_version;
  std::unique_ptr<Model> (*make_lstm)(const LstmOptions&);
  std::unique_ptr<Model> (*make_autoencoder)(const AutoencoderOptions&);
  void (*set_threads)(int);
  const char* (*torch_version)();
  std::unique_ptr<TrafficForecaster> (*make_traffic_forecaster)(const ForecasterOptions&);
  void (*export_weights)(const std::filesystem::path&, const std::string&);
};

}  // namespace netsentry::ml::torch
