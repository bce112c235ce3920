// Provides check_config_file(): reads a netsentry.toml before CLI11 applies it and refuses what
// CLI11 would silently ignore or misread (binary bytes, TOML syntax errors, a section that is no
// command, a key that is no option of its section), with one line naming the file and the line.
// Thread rules: plain functions.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace CLI {
class App;
}  // namespace CLI

namespace netsentry::app {

// Throws core::Error ("netsentry.toml:7: unknown key \"speeed\" in [monitor]") for the first
// problem found; returns when the file is usable.
void check_config_file(const std::filesystem::path& path, const CLI::App& app);

// Where a value from the configuration file caused `message` (an error naming an option as
// "--NAME", from CLI11's conversion and range checks or from a command's own checks): "FILE:LINE"
// of key NAME in the file, when the file sets it and the command line does not; else empty.
[[nodiscard]] std::string config_error_location(const std::filesystem::path& path, int argc,
                                                char** argv, std::string_view message);

// The configuration file CLI11 will read for these arguments: --config FILE / --config=FILE, else
// ./netsentry.toml when it exists, else empty.
[[nodiscard]] std::filesystem::path config_file_of(int argc, char** argv);

}  // namespace netsentry::app
