// Provides server::SuppressionControl, what the page's "suppress" acts on: the running detection
// stage's suppression rules (detect/suppression.h grammar) and where they are saved. The server
// only lists, adds and removes rule texts; the implementation (src/app) applies them and writes
// the configuration file.
// Thread rules: the HTTP server calls every method from its worker threads, concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace netsentry::server {

class SuppressionControl {
 public:
  virtual ~SuppressionControl() = default;
  // The rules in force, in the order they were added.
  [[nodiscard]] virtual std::vector<std::string> rules() const = 0;
  // Where the rules are saved ("" when nowhere: they last until the process ends).
  [[nodiscard]] virtual std::string saved_to() const = 0;
  // Adds a rule (one already present changes nothing). Throws core::Error saying what is wrong
  // with a bad rule, or why it could not be saved (the rule is then not in force either).
  virtual void add(std::string_view rule) = 0;
  // Removes a rule; false when no rule has that text. Throws core::Error when saving fails.
  virtual bool remove(std::string_view rule) = 0;
};

}  // namespace netsentry::server
