// Provides what `monitor` and `dashboard` share to serve the page: finding the web assets, turning
// --listen/--auth-token(-file) into server options, and the models panel's view of a bundle.
// Thread rules: plain functions.
#pragma once

#include <filesystem>
#include <string>

#include "ml/bundle.h"
#include "server/dashboard_source.h"
#include "server/http_server.h"

namespace netsentry::app {

// `explicit_dir` when given; else web/ beside the binary, two levels up (the build tree of a
// checkout), or ../share/netsentry/web. Throws core::Error saying where it looked.
[[nodiscard]] std::filesystem::path find_web_dir(const std::string& explicit_dir);

// HOST:PORT (or :PORT, or PORT) plus the token (inline or from a file's first line).
// Throws core::Error for a malformed address or an unreadable token file.
[[nodiscard]] server::ServerOptions server_options(const std::string& listen,
                                                   const std::string& token,
                                                   const std::string& token_file,
                                                   const std::filesystem::path& web_dir);

// The models panel: thresholds, weights, validation/test metrics from the manifest.
[[nodiscard]] server::ModelsInfo models_info(const ml::Bundle& bundle, const std::string& path);

}  // namespace netsentry::app
