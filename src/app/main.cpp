// netsentry's entry point: hands argv to the CLI in app/cli.h.
#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string_view>

#include "app/cli.h"

namespace {

// Commands that run XGBoost or LibTorch, whose OpenMP pools matter.
bool uses_openmp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "train" || arg == "evaluate") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns the free top of a thread's heap to the kernel once it passes its trim threshold
  // (by default twice the largest block it served by mmap so far, 256 KiB at first), and the
  // pipeline's threads free and re-allocate batches of flows all the time: every trim was paid
  // again in page faults, which cost microseconds each on virtual machines (perf: a tenth of the
  // detection thread in a 1 M-packet replay). A fixed 16 MiB mmap threshold (glibc's own adaptive
  // one reaches 32 MiB) and 32 MiB of free top kept per heap: minor faults 20-21k -> 17-19k on
  // that replay, the same peak RSS; bench/stage_cost, 12 alternated runs: 106 % by CPU time.
  ::mallopt(M_MMAP_THRESHOLD, 16 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 32 << 20);
  // OpenMP (inside XGBoost and LibTorch) busy-waits between parallel regions unless told otherwise,
  // and it reads the setting once when the runtime loads, before main. On a small shared machine
  // the spinning made 2-thread training 20x slower, so restart once with a passive wait policy
  // unless the user chose one. The stop signals are blocked first: the mask survives exec, so a
  // Ctrl-C during the restart is kept pending for the new image instead of killing it unflushed.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && uses_openmp(argc, argv)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);  // only returns on failure: then go on as we are
  }
  return netsentry::app::run_cli(argc, argv);
}
