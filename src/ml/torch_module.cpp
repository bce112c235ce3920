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

std::unique_ptr<torch::TrafficForecaster> load_traffic_forecaster(const fs::path& dir) {
  auto model = neural::forecaster_has_plain_weights(dir) ? neural::make_traffic_forecaster()
                                                         : api().make_traffic_forecaster({});
  model->load(dir);
  return model;
}

}  // namespace netsentry::ml::torch_module
