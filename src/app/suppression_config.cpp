#include "app/suppression_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "detect/suppression.h"

namespace netsentry::app {

namespace {

// A TOML basic string.
std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string trimmed(std::string_view line) {
  const auto first = line.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = line.find_last_not_of(" \t\r");
  return std::string(line.substr(first, last - first + 1));
}

// The key a "key = value" line sets ("" for anything else).
std::string key_of(const std::string& line) {
  if (line.empty() || line[0] == '#' || line[0] == '[') return {};
  const auto eq = line.find('=');
  return eq == std::string::npos ? std::string() : trimmed(std::string_view(line).substr(0, eq));
}

}  // namespace

std::string with_suppress_rules(std::string_view config, const std::vector<std::string>& rules) {
  // No rules is written as netsentry --write-config writes it: CLI11 refuses an empty array.
  std::string value = rules.empty() ? "suppress=\"\"" : "suppress=[";
  for (std::size_t i = 0; i < rules.size(); ++i) value += (i ? ", " : "") + toml_string(rules[i]);
  if (!rules.empty()) value += "]";

  std::vector<std::string> lines;
  std::istringstream in{std::string(config)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  std::string section;
  std::ptrdiff_t monitor_end = -1;  // where a missing key goes: after the section's last line
  bool written = false;
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    const std::string t = trimmed(line);
    if (!t.empty() && t[0] == '[') {
      if (section == "monitor") monitor_end = static_cast<std::ptrdiff_t>(out.size());
      const auto close = t.find(']');
      section =
          trimmed(std::string_view(t).substr(1, close == std::string::npos ? close : close - 1));
    }
    // A multi-line array value of the old key is not ours to parse: netsentry writes one line.
    if (section == "monitor" && key_of(t) == "suppress") {
      if (!written) out.push_back(value);
      written = true;
      continue;
    }
    out.push_back(line);
  }
  if (section == "monitor") monitor_end = static_cast<std::ptrdiff_t>(out.size());
  if (!written) {
    if (monitor_end < 0) {
      if (!out.empty() && !trimmed(out.back()).empty()) out.emplace_back();
      out.emplace_back("[monitor]");
      out.push_back(value);
    } else {
      // After the section's last non-blank line.
      std::ptrdiff_t at = monitor_end;
      while (at > 0 && trimmed(out[static_cast<std::size_t>(at - 1)]).empty()) --at;
      out.insert(out.begin() + at, value);
    }
  }
  std::string text;
  for (const std::string& line : out) text += line + '\n';
  return text;
}

SuppressionConfig::SuppressionConfig(detect::DetectionStage& stage, std::vector<std::string> rules,
                                     std::filesystem::path config)
    : stage_(stage), config_(std::move(config)) {
  for (std::string& rule : rules) {
    if (!rule.empty() && std::find(rules_.begin(), rules_.end(), rule) == rules_.end()) {
      rules_.push_back(std::move(rule));
    }
  }
}

std::vector<std::string> SuppressionConfig::rules() const {
  std::lock_guard lock(mutex_);
  return rules_;
}

std::string SuppressionConfig::saved_to() const { return config_.string(); }

void SuppressionConfig::add(std::string_view rule) {
  // Parsed first: a bad rule is refused with the grammar's message and changes nothing.
  const detect::SuppressionRule parsed = detect::SuppressionRule::parse(rule);
  std::lock_guard lock(mutex_);
  if (std::find(rules_.begin(), rules_.end(), parsed.text) != rules_.end()) return;
  std::vector<std::string> next = rules_;
  next.push_back(parsed.text);
  apply_locked(std::move(next));
}

bool SuppressionConfig::remove(std::string_view rule) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> next = rules_;
  const auto it = std::find(next.begin(), next.end(), rule);
  if (it == next.end()) return false;
  next.erase(it);
  apply_locked(std::move(next));
  return true;
}

void SuppressionConfig::apply_locked(std::vector<std::string> next) {
  if (!config_.empty()) {
    std::ifstream in(config_, std::ios::binary);
    if (!in)
      throw core::Error(config_.string() + ": cannot read the configuration to save the rule");
    std::ostringstream text;
    text << in.rdbuf();
    core::write_file_atomically(config_, with_suppress_rules(text.str(), next));
  }
  stage_.set_suppression_rules(next);
  rules_ = std::move(next);
}

}  // namespace netsentry::app
