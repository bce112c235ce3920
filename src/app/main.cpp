// netsentry's entry point: hands argv to the CLI in app/cli.h.
#include "app/cli.h"

int main(int argc, char** argv) { return netsentry::app::run_cli(argc, argv); }
