// netsentry's entry point: hands argv to the CLI in app/cli.h.
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
