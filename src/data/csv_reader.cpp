#include "data/csv_reader.h"

#include <fmt/format.h>

#include <utility>

#include "core/error.h"

namespace netsentry::data {
namespace {

// The reader skips a byte-order mark itself; positions count from after it, like an editor's.
std::string_view without_bom(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") ? text.substr(3) : text;
}

}  // namespace

CsvRecords::CsvRecords(std::string_view text, std::string name)
    : text_(without_bom(text)), name_(std::move(name)), reader_(text_) {}

void CsvRecords::locate(std::size_t offset, std::size_t& line, std::size_t& column) {
  for (; at_ < offset && at_ < text_.size(); ++at_) {
    if (text_[at_] == '\n') {
      ++at_line_;
      line_start_ = at_ + 1;
    }
  }
  line = at_line_;
  column = offset - line_start_ + 1;
}

bool CsvRecords::next(std::vector<CsvField>& record) {
  record.clear();
  std::size_t line = 0;
  std::size_t bad = 0;
  const CsvReader::Status status = reader_.next(fields_, line, bad, &starts_);
  if (status == CsvReader::Status::kEnd) return false;
  if (status != CsvReader::Status::kRecord) {
    std::size_t bad_line = 0;
    std::size_t bad_column = 0;
    locate(starts_[std::min(bad, starts_.size() - 1)], bad_line, bad_column);
    throw core::Error(fmt::format("{}:{}:{}: {}", name_, bad_line, bad_column,
                                  status == CsvReader::Status::kUnterminatedQuote
                                      ? "quoted field is not closed"
                                      : "unexpected text after a closing quote"));
  }
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    CsvField f;
    f.text = fields_[i];
    locate(starts_[i], f.line, f.column);
    record.push_back(f);
  }
  return true;
}

}  // namespace netsentry::data
