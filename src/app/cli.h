// Provides run_cli: parses the command line (CLI11), runs the chosen subcommand, and turns
// core::Error into one clear line on stderr with a non-zero exit code.
#pragma once

namespace netsentry::app {

int run_cli(int argc, char** argv);

}  // namespace netsentry::app
