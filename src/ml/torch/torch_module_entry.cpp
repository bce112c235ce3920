// The one symbol libnetsentry_torch.so exports: the table of factories ml/torch_module.cpp calls.
// Its name carries kModuleApiVersion, so an older module is "not a netsentry module" to dlsym.
#include <torch/version.h>

#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {

const char* torch_version() { return TORCH_VERSION; }

}  // namespace netsentry::ml::torch

extern "C" __attribute__((visibility("default"))) const netsentry::ml::torch::TorchModuleApi*
netsentry_torch_module_v4() {
  namespace t = netsentry::ml::torch;
  static const t::TorchModuleApi api{
      t::kModuleApiVersion,
      sizeof(t::TorchModuleApi),
      NETSENTRY_VERSION,
      [](const t::LstmOptions& o) { return t::make_lstm(o); },
      [](const t::AutoencoderOptions& o) { return t::make_autoencoder(o); },
      &t::set_torch_threads,
      &t::torch_version,
      [](const t::ForecasterOptions& o) { return t::make_traffic_forecaster(o); },
      &t::export_weights,
  };
  return &api;
}
