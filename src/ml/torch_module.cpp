#include "ml/torch_module.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "ml/neural/traffic_forecaster.h"

namespace netsentry::ml::torch_module {
namespace {

namespace fs = std::filesystem;
constexpr const char* kModuleFile = "libnetsentry_torch.so";

struct State {
  std::once_flag once;
  const torch::TorchModuleApi* api = nullptr;
  std::string path;
  std::string error;
  std::atomic<bool> usable{false};  // set after `api`, so loaded() can ask without loading
};

State& state() {
  static State s;
  return s;
}

std::vector<fs::path> candidates() {
  std::vector<fs::path> out;
  // An explicit path is authoritative: a user who names a module wants that one or an error.
  if (const char* env = std::getenv("NETSENTRY_TORCH_MODULE"); env && *env) {
    out.emplace_back(env);
    return out;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back(exe.parent_path() / kModuleFile);
    out.push_back(exe.parent_path().parent_path() / "lib" / "netsentry" / kModuleFile);
  }
  return out;
}

void load(State& s) {
#ifndef NETSENTRY_HAVE_TORCH
  s.error = "this build has no LibTorch (configured with NETSENTRY_TORCH=OFF)";
#else
  std::string tried;
  for (const auto& file : candidates()) {
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      tried += fmt::format("{}{} (missing)", tried.empty() ? "" : ", ", file.string());
      continue;
    }
    s.path = file.string();
    // RTLD_GLOBAL so the module's libraries (OpenBLAS) are visible to dlsym(RTLD_DEFAULT), which
    // set_threads uses to pin OpenBLAS's own pool.
    void* handle = dlopen(s.path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle == nullptr) {
      s.error = fmt::format("cannot load the LibTorch module {}: {}", s.path, dlerror());
      return;
    }
    using Entry = const torch::TorchModuleApi* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, torch::kModuleEntryPoint));
    if (entry == nullptr) {
      s.error = fmt::format("{} is not a netsentry LibTorch module (no {} symbol)", s.path,
                            torch::kModuleEntryPoint);
      return;
    }
    const torch::TorchModuleApi* api = entry();
    if (api == nullptr || api->api_version != torch::kModuleApiVersion ||
        api->struct_size != sizeof(torch::TorchModuleApi) ||
        std::strcmp(api->netsentry_version, NETSENTRY_VERSION) != 0) {
      s.error = fmt::format(
          "{} was built for another netsentry (module API {}, version {}; this binary: API {}, "
          "version {}): rebuild, or point NETSENTRY_TORCH_MODULE at the matching module",
          s.path, api ? api->api_version : -1, api ? api->netsentry_version : "?",
          torch::kModuleApiVersion, NETSENTRY_VERSION);
      return;
    }
    s.api = api;
    s.usable.store(true, std::memory_order_release);
    return;
  }
  s.error = fmt::format(
      "the LibTorch module {} was not found (looked at: {}); it is built beside the netsentry "
      "binary, or set NETSENTRY_TORCH_MODULE to its path",
      kModuleFile, tried.empty() ? "nowhere: cannot resolve the executable's path" : tried);
#endif
}

State& loaded_state() {
  State& s = state();
  std::call_once(s.once, [&s] { load(s); });
  return s;
}

}  // namespace

bool built() {
#ifdef NETSENTRY_HAVE_TORCH
  return true;
#else
  return false;
#endif
}

bool available(std::string* why) {
  const State& s = loaded_state();
  if (s.api == nullptr && why != nullptr) *why = s.error;
  return s.api != nullptr;
}

const torch::TorchModuleApi& api() {
  const State& s = loaded_state();
  if (s.api == nullptr) throw core::Error(s.error);
  return *s.api;
}

std::string path() {
  if (loaded()) return state().path;
  for (const auto& file : candidates()) {
    std::error_code ec;
    if (fs::exists(file, ec)) return file.string();
  }
  return {};
}

bool loaded() { return state().usable.load(std::memory_order_acquire); }

namespace {

// Delegates to the torch-free forecaster or to the module's, whichever load() or fit() needed.
class LazyForecaster final : public torch::TrafficForecaster {
 public:
  explicit LazyForecaster(const torch::ForecasterOptions& options) : options_(options) {
    neural::validate_forecaster_options(options_);
  }

  torch::ForecasterSummary fit(std::span<const double> series, const TrainContext& ctx) override {
    auto model = api().make_traffic_forecaster(options_);
    const torch::ForecasterSummary summary = model->fit(series, ctx);
    model_ = std::move(model);
    return summary;
  }
  void load(const fs::path& dir) override {
    auto model = neural::forecaster_has_plain_weights(dir)
                     ? neural::make_traffic_forecaster()
                     : api().make_traffic_forecaster(options_);
    model->load(dir);
    model_ = std::move(model);
  }
  void save(const fs::path& dir) const override { ready().save(dir); }
  [[nodiscard]] torch::Forecast predict(std::span<const double> last_window) const override {
    return ready().predict(last_window);
  }
  [[nodiscard]] std::vector<torch::Forecast> predict_batch(
      std::span<const double> windows) const override {
    return ready().predict_batch(windows);
  }
  [[nodiscard]] double residual(double bytes_per_second,
                                const torch::Forecast& forecast) const override {
    return ready().residual(bytes_per_second, forecast);
  }
  [[nodiscard]] std::size_t window() const override {
    return model_ ? model_->window() : static_cast<std::size_t>(options_.window);
  }
  [[nodiscard]] double band_quantile() const override { return ready().band_quantile(); }
  void set_false_alarm_rate(double rate) override {
    if (!model_) throw core::Error("traffic forecaster: the model is not trained or loaded");
    model_->set_false_alarm_rate(rate);
  }
  [[nodiscard]] const torch::ForecasterSummary& summary() const override {
    return model_ ? model_->summary() : empty_;
  }

 private:
  [[nodiscard]] const torch::TrafficForecaster& ready() const {
    if (!model_) throw core::Error("traffic forecaster: the model is not trained or loaded");
    return *model_;
  }
  torch::ForecasterOptions options_;
  std::unique_ptr<torch::TrafficForecaster> model_;
  torch::ForecasterSummary empty_;
};

}  // namespace

std::unique_ptr<torch::TrafficForecaster> make_traffic_forecaster(
    const torch::ForecasterOptions& options) {
  return std::make_unique<LazyForecaster>(options);
}

}  // namespace netsentry::ml::torch_module
