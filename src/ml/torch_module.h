// Provides the LibTorch models (LSTM, autoencoder) to the rest of the program without linking
// LibTorch: the first call loads libnetsentry_torch.so (built from src/ml/torch/) with dlopen, so
// commands that never touch those models (flows, watch, counter-only monitor, IF/RF scoring, and
// scoring a bundle saved with plain weights, see ml/neural/) start in milliseconds instead of
// paying ~1 s and ~150 MB for libtorch's initialisation.
// The module is looked for at $NETSENTRY_TORCH_MODULE when set (only there), else beside the
// executable, then in <exe dir>/../lib/netsentry/. Thread rules: every function may be called from
// any thread; the module is loaded once (std::call_once) and never unloaded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "ml/model.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch_module {

// True when this build has the LibTorch models at all (NETSENTRY_TORCH=ON).
[[nodiscard]] bool built();
// Loads the module if needed; true when it is usable. `why` (optional) receives the reason it is
// not: not built, not found (with every path tried), or a mismatched module.
[[nodiscard]] bool available(std::string* why = nullptr);
// The loaded module's table; throws core::Error with the reason when unavailable.
[[nodiscard]] const torch::TorchModuleApi& api();
// The file the module was (or would be) loaded from; empty when none was found.
[[nodiscard]] std::string path();
// True once the module has been loaded in this process (without loading it).
[[nodiscard]] bool loaded();

[[nodiscard]] inline std::unique_ptr<Model> make_lstm(const torch::LstmOptions& options = {}) {
  return api().make_lstm(options);
}
[[nodiscard]] inline std::unique_ptr<Model> make_autoencoder(
    const torch::AutoencoderOptions& options = {}) {
  return api().make_autoencoder(options);
}
// A forecaster to train (through the module). Throws core::Error on invalid options.
[[nodiscard]] inline std::unique_ptr<torch::TrafficForecaster> make_traffic_forecaster(
    const torch::ForecasterOptions& options = {}) {
  return api().make_traffic_forecaster(options);
}
// The forecaster saved in `dir`: one saved with its plain weights (traffic_forecaster.weights,
// named in its sidecar) as the torch-free forecaster of ml/neural/traffic_forecaster.h, without
// loading the module; an older one through the module. Throws core::Error when it cannot be read.
[[nodiscard]] std::unique_ptr<torch::TrafficForecaster> load_traffic_forecaster(
    const std::filesystem::path& dir);
inline void set_threads(int n) { api().set_threads(n); }

}  // namespace netsentry::ml::torch_module
