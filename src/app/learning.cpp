#include "app/learning.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "fmt/format.h"

namespace netsentry::app {

data::Dataset load_data(const DataOptions& options, const std::string& what) {
  data::LoadOptions load;
  auto format = data::parse_format(options.format);
  if (!format) {
    throw core::Error(fmt::format(
        "--format {}: unknown (auto, original, flows, cicids2017, nsl-kdd, unsw-nb15, generic)",
        options.format));
  }
  load.format = *format;
  load.label_column = options.label_column;
  load.negative_value = options.negative_value;
  load.skip_bad_rows = options.skip_bad_rows;
  load.max_rows = options.max_rows;
  data::LoadReport report;
  data::Dataset ds = data::load_csv(options.paths, load, &report);
  spdlog::info("{}: {} rows from {} file(s), format {}, {:.2f} s", what, ds.rows(),
               report.files.size(), data::to_string(report.format), report.seconds);
  if (report.bad_rows) {
    spdlog::warn("{}: skipped {} malformed rows (--skip-bad-rows); first: {}", what,
                 report.bad_rows,
                 report.bad_row_examples.empty() ? "" : report.bad_row_examples.front());
  }
  if (!ds.labelled()) {
    throw core::Error(fmt::format(
        "{}: no label column found; name it with --label-column (and --negative VALUE)", what));
  }
  return ds;
}

std::string model_name(const std::string& alias) {
  if (alias == "if" || alias == "iforest") return "isolation_forest";
  if (alias == "rf") return "random_forest";
  if (alias == "ae") return "autoencoder";
  return alias;
}

}  // namespace netsentry::app
