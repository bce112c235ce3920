// Provides `netsentry dashboard --db PATH`: the dashboard served from the SQLite store a running
// (or finished) `netsentry monitor` writes, in a process of its own (the original project's
// two-process usage). Address, token and assets are resolved as for `monitor` (dashboard_setup.h).
// Thread rules: run_dashboard blocks the calling (main) thread until SIGINT/SIGTERM; call
// core::install_stop_handlers() first, as main does.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace netsentry::app {

struct DashboardOptions {
  std::filesystem::path db;
  std::string listen = "127.0.0.1:8050";
  std::string auth_token;
  std::filesystem::path auth_token_file;
  std::filesystem::path web_dir;         // empty: web/ beside or above the binary (find_web_dir)
  std::vector<std::string> allow_hosts;  // Host header names besides addresses and localhost
};

// Serves until SIGINT/SIGTERM, then stops cleanly and returns 0. Throws core::Error for a missing
// or foreign store, a bad --listen, an unreadable token file, no assets, or an address in use.
int run_dashboard(const DashboardOptions& options);

}  // namespace netsentry::app
