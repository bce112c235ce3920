// Provides installed_layout(): where an installed netsentry's files are (`cmake --install` or the
// .deb: <prefix>/bin/netsentry beside <prefix>/share/netsentry), so --help names the paths the
// install really uses rather than the source tree's.
// Thread rules: plain functions.
#pragma once

#include <filesystem>
#include <optional>

namespace netsentry::app {

struct InstallLayout {
  std::filesystem::path prefix;         // /usr for the .deb
  std::filesystem::path default_model;  // <prefix>/share/netsentry/models/default
  std::filesystem::path web_dir;        // <prefix>/share/netsentry/web
  std::filesystem::path config;         // /etc/netsentry/netsentry.toml for /usr, else under prefix
};

// The files of an install under `prefix`, as the install rules place them (cmake/packaging.cmake).
[[nodiscard]] InstallLayout layout_of(const std::filesystem::path& prefix);

// The layout around the binary `exe` when it runs from an install (its folder is <prefix>/bin and
// <prefix>/share/netsentry exists); nullopt for a build tree or anything else.
[[nodiscard]] std::optional<InstallLayout> installed_layout(const std::filesystem::path& exe);

// installed_layout() of this process's binary (/proc/self/exe).
[[nodiscard]] std::optional<InstallLayout> this_install();

}  // namespace netsentry::app
