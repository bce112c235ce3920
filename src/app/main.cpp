// netsentry's entry point: hands argv to the CLI in app/cli.h.
#include <unistd.h>

#include <cstdlib>

#include "app/cli.h"

int main(int argc, char** argv) {
  // OpenMP (inside XGBoost and LibTorch) busy-waits between parallel regions unless told otherwise,
  // and it reads the setting once when the runtime loads, before main. On a small shared machine
  // the spinning made 2-thread training 20x slower, so restart once with a passive wait policy
  // unless the user chose one.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);  // only returns on failure: then go on as we are
  }
  return netsentry::app::run_cli(argc, argv);
}
