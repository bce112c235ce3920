#include "app/dashboard_command.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <system_error>

#include "app/dashboard_setup.h"
#include "core/error.h"
#include "core/signals.h"
#include "server/http_server.h"
#include "server/store_source.h"

namespace netsentry::app {

int run_dashboard(const DashboardOptions& options) {
  if (options.db.empty()) {
    throw core::Error(
        "dashboard: --db PATH is required (the netsentry.db `netsentry monitor` writes, by "
        "default in its --out folder)");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.db, ec)) {
    throw core::Error(options.db.string() +
                      ": no such store (run `netsentry monitor` first; it writes "
                      "<out>/netsentry.db)");
  }
  server::StoreSourceOptions source_options;
  // monitor writes the packets behind alerts into evidence/ beside its store.
  source_options.evidence_dir = options.db.parent_path() / "evidence";
  server::StoreSource source(options.db, source_options);  // throws naming a foreign file
  server::ServerOptions server_options =
      app::server_options(options.listen, options.auth_token, options.auth_token_file.string(),
                          find_web_dir(options.web_dir.string()));
  server_options.allowed_hosts = options.allow_hosts;

  // A Ctrl-C that came while the store loaded was kept by the handler and stops us at once.
  core::StopSignals signals;
  server::HttpServer server(source, server_options);
  server.start();
  std::printf("netsentry dashboard: %s (serving %s; Ctrl-C stops)\n", server.url().c_str(),
              options.db.string().c_str());
  std::fflush(stdout);
  spdlog::info("dashboard: serving {} at {}", options.db.string(), server.url());

  std::mutex mutex;
  std::condition_variable_any woken;
  std::unique_lock lock(mutex);
  woken.wait(lock, signals.token(), [] { return false; });

  server.stop();
  spdlog::info("dashboard: stopped");
  return core::kExitOk;
}

}  // namespace netsentry::app
