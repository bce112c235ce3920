// `netsentry watch`: host counters and connections only, no packet capture.
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "app/host_recorder.h"
#include "core/logging.h"
#include "core/signals.h"

namespace netsentry::app {

int run_watch(const WatchOptions& options) {
  core::StopSignals signals;
  HostRecorder recorder(options);
  spdlog::info("watch: recording counters and connections into {} every {} s",
               options.out_dir.string(), options.interval_s);
  recorder.run(signals.token());
  spdlog::info("watch: stopped after {} samples and {} connection events; files flushed",
               recorder.samples(), recorder.connection_events());
  return 0;
}

}  // namespace netsentry::app
