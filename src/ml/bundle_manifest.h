// Provides ml::check_bundle_manifest(), the quick look at a model bundle's manifest.json that
// `monitor` takes before it captures anything: the folder, the manifest's JSON, its format version
// and the model files it names. Bundle::load() does the full validation (and loads the models,
// which takes about a second with LibTorch) on a thread of its own while the capture starts; this
// check lets an obviously unusable bundle be one clear error before the first packet or alert.
// Thread rules: a free function without state; any thread.
#pragma once

#include <filesystem>

namespace netsentry::ml {

// Throws core::Error naming the file and what is wrong (the same messages as Bundle::load()):
// not a folder, manifest.json unreadable or not JSON, format_version missing or unsupported,
// "models" missing or empty, an unknown model name, a model file or plain weights file ("weights")
// that does not exist.
void check_bundle_manifest(const std::filesystem::path& dir);

}  // namespace netsentry::ml
