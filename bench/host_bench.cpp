// Benchmarks the /proc parsers on fixture text: /proc/net/dev with a few interfaces and
// /proc/net/tcp with many sockets (a busy server), the work host::Monitor and
// host::ConnectionReader do once a second.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "host/net_dev.h"
#include "host/proc_sockets.h"

namespace {

std::string net_dev_text(int interfaces) {
  std::string text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  char line[256];
  for (int i = 0; i < interfaces; ++i) {
    std::snprintf(line, sizeof line,
                  "  eth%d: %d 4824    0    0    0     0          0         0   169137    2390    "
                  "0    0    0     0       0          0\n",
                  i, 196030333 + i);
    text += line;
  }
  return text;
}

std::string tcp_text(int sockets) {
  std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
      "inode\n";
  char line[256];
  for (int i = 0; i < sockets; ++i) {
    std::snprintf(line, sizeof line,
                  "%4d: 0A01A8C0:%04X 2EE5D08E:01BB 01 00000000:00000000 02:000A1B2C 00000000  "
                  "1000        0 %d 2 0000000000000000 20 4 30 10 -1\n",
                  i, 1024 + i % 60000, 88231 + i);
    text += line;
  }
  return text;
}

void BM_ParseNetDev(benchmark::State& state) {
  const std::string text = net_dev_text(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto table = netsentry::host::parse_net_dev(text);
    benchmark::DoNotOptimize(table);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ParseNetDev)->Arg(4)->Arg(64);

void BM_ParseProcNetTcp(benchmark::State& state) {
  const std::string text = tcp_text(static_cast<int>(state.range(0)));
  std::vector<netsentry::host::SocketEntry> sockets;
  for (auto _ : state) {
    sockets.clear();
    benchmark::DoNotOptimize(
        netsentry::host::parse_proc_sockets(text, netsentry::host::Transport::kTcp, sockets));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ParseProcNetTcp)->Arg(100)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
