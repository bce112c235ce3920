#include "app/install_layout.h"

#include <system_error>

namespace netsentry::app {

InstallLayout layout_of(const std::filesystem::path& prefix) {
  namespace fs = std::filesystem;
  const fs::path share = prefix / "share" / "netsentry";
  InstallLayout layout;
  layout.prefix = prefix;
  layout.default_model = share / "models" / "default";
  layout.web_dir = share / "web";
  // As the install rules place it (cmake/packaging.cmake): /etc for the prefix /usr.
  layout.config =
      (prefix == "/usr" ? fs::path("/etc") : prefix / "etc") / "netsentry" / "netsentry.toml";
  return layout;
}

std::optional<InstallLayout> installed_layout(const std::filesystem::path& exe) {
  const std::filesystem::path bin = exe.parent_path();
  if (bin.filename() != "bin") return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::is_directory(bin.parent_path() / "share" / "netsentry", ec)) {
    return std::nullopt;
  }
  return layout_of(bin.parent_path());
}

std::optional<InstallLayout> this_install() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  return installed_layout(exe);
}

}  // namespace netsentry::app
