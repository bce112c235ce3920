// Provides netsentry::core::Error, the exception for user-facing mistakes (bad file, bad flag,
// missing permission). Its message is one line that says what and where; `main` prints it and
// exits non-zero. Library failures are rethrown as Error with context by the folder that owns them.
#pragma once

#include <stdexcept>
#include <string>

namespace netsentry::core {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Exit codes used by the CLI.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace netsentry::core
