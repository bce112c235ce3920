// Provides app::SuppressionConfig, the page's suppression rules for `netsentry monitor`: it applies
// them to the running detection stage and saves them as the `suppress` list of the [monitor]
// section of the configuration file the monitor was started with (written atomically, every other
// line kept as it was). Without a configuration file the rules last until the process ends.
// Thread rules: every method is thread-safe (`mutex_`).
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "detect/detection_stage.h"
#include "server/suppression_control.h"

namespace netsentry::app {

// `config` (a netsentry configuration file's text) with its [monitor] section's `suppress` key
// set to `rules` (a TOML array; the key and the section are added when missing).
[[nodiscard]] std::string with_suppress_rules(std::string_view config,
                                              const std::vector<std::string>& rules);

class SuppressionConfig final : public server::SuppressionControl {
 public:
  // `rules`: those the stage started with; `config`: the file to save to ("" = none).
  SuppressionConfig(detect::DetectionStage& stage, std::vector<std::string> rules,
                    std::filesystem::path config);

  [[nodiscard]] std::vector<std::string> rules() const override;
  [[nodiscard]] std::string saved_to() const override;
  void add(std::string_view rule) override;
  bool remove(std::string_view rule) override;

 private:
  // Applies `next` to the stage and saves it; throws core::Error (nothing changed) on failure.
  void apply_locked(std::vector<std::string> next);

  detect::DetectionStage& stage_;
  const std::filesystem::path config_;
  mutable std::mutex mutex_;  // guards rules_
  std::vector<std::string> rules_;
};

}  // namespace netsentry::app
