// Provides the steps `train` and `evaluate` share: loading labelled data with the CLI's options,
// ordering rows in time, and the short model-name aliases (if, rf, lstm, ae).
#pragma once

#include <string>

#include "app/commands.h"
#include "data/csv_loader.h"
#include "data/dataset.h"

namespace netsentry::app {

[[nodiscard]] data::Dataset load_data(const DataOptions& options, const std::string& what);
// "if" -> "isolation_forest", "rf" -> "random_forest", "ae" -> "autoencoder"; full names pass.
[[nodiscard]] std::string model_name(const std::string& alias);

}  // namespace netsentry::app
