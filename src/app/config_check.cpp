#include "app/config_check.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/utf8.h"

namespace netsentry::app {
namespace {

bool has_option(const CLI::App& app, std::string_view key) {
  const std::string wanted(key);
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_configurable()) continue;
    for (const std::string& name : opt->get_lnames()) {
      if (name == wanted) return true;
    }
    for (const std::string& name : opt->get_snames()) {
      if (name == wanted) return true;
    }
  }
  return false;
}

std::string section_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return names;
}

}  // namespace

std::filesystem::path config_file_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.starts_with("--config=")) return std::string(arg.substr(9));
  }
  std::error_code ec;
  if (std::filesystem::is_regular_file("netsentry.toml", ec)) return "netsentry.toml";
  return {};
}

std::string config_error_location(const std::filesystem::path& path, int argc, char** argv,
                                  std::string_view message) {
  // The first "--name" in the message: CLI11 and our own checks name the option that way.
  const std::size_t dashes = message.find("--");
  if (dashes == std::string_view::npos) return {};
  std::size_t end = dashes + 2;
  while (end < message.size() &&
         (std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-')) {
    ++end;
  }
  const std::string_view name = message.substr(dashes + 2, end - dashes - 2);
  if (name.empty()) return {};
  const std::string flag = "--" + std::string(name);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == flag || arg.starts_with(flag + "=")) return {};  // the command line's value
  }
  toml::table root;
  try {
    root = toml::parse_file(path.string());
  } catch (const std::exception&) {
    return {};
  }
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr) continue;
    for (const auto& [key, value] : *table) {
      if (key.str() == name) {
        return fmt::format("{}:{}", path.string(), key.source().begin.line);
      }
    }
  }
  return {};
}

void check_config_file(const std::filesystem::path& path, const CLI::App& app) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Error(fmt::format("{}: cannot read the configuration file", file));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = std::move(buffer).str();

  // Binary garbage: say where, without echoing it.
  std::size_t line = 1;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '\n') continue;
    const std::string_view row(text.data() + start, i - start);
    const bool control = row.find_first_of(std::string_view("\0\x01\x02\x03\x04\x05\x06\x07\x08"
                                                            "\x0b\x0c\x0e\x0f\x10\x11\x12\x13"
                                                            "\x14\x15\x16\x17\x18\x19\x1a\x1b"
                                                            "\x1c\x1d\x1e\x1f\x7f",
                                                            30)) != std::string_view::npos;
    if (control || !core::is_valid_utf8(row)) {
      throw core::Error(fmt::format(
          "{}:{}: not a TOML text file (control bytes or invalid UTF-8 on this line)", file, line));
    }
    ++line;
    start = i + 1;
  }

  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw core::Error(fmt::format("{}:{}:{}: {}", file, e.source().begin.line,
                                  e.source().begin.column, core::printable(e.description())));
  }
  for (const auto& [key, node] : root) {
    const auto where = fmt::format("{}:{}", file, key.source().begin.line);
    if (const toml::table* section = node.as_table()) {
      const CLI::App* sub = nullptr;
      try {
        sub = app.get_subcommand(std::string(key.str()));
      } catch (const CLI::OptionNotFound&) {
        sub = nullptr;
      }
      if (sub == nullptr) {
        throw core::Error(fmt::format("{}: unknown section [{}] (sections are the commands: {})",
                                      where, core::printable(key.str()), section_names(app)));
      }
      for (const auto& [name, value] : *section) {
        if (!has_option(*sub, name.str())) {
          throw core::Error(fmt::format(
              "{}:{}: unknown key \"{}\" in [{}] (see `netsentry {} "
              "--help` or `netsentry --write-config`)",
              file, name.source().begin.line, core::printable(name.str()), key.str(), key.str()));
        }
        if (value.is_table()) {
          throw core::Error(fmt::format("{}:{}: \"{}\" in [{}] is a table, not a value", file,
                                        name.source().begin.line, core::printable(name.str()),
                                        key.str()));
        }
      }
    } else if (!has_option(app, key.str())) {
      throw core::Error(fmt::format("{}: unknown key \"{}\" outside any [section]", where,
                                    core::printable(key.str())));
    }
  }
}

}  // namespace netsentry::app
