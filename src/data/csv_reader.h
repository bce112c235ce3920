// Provides data's one CSV reader: CsvReader, the record splitter load_csv() runs on (RFC 4180
// plus CRLF, blank lines, spaces before a quote, a UTF-8 byte-order mark; fields view the text),
// and CsvRecords over it for small files read whole (episode labels, traffic series), which says
// where each field starts and turns malformed quoting into core::Error "name:line:column: ...".
// Thread rules: one reader per thread; the text must outlive it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::data {

// Non-destructive: fields view the text, except quoted fields with doubled quotes, which are
// unescaped into a scratch buffer (valid until the next record).
class CsvReader {
 public:
  enum class Status { kRecord, kEnd, kUnterminatedQuote, kTextAfterQuote };

  explicit CsvReader(std::string_view data) : d_(data) {
    // A UTF-8 byte-order mark is not part of the first header name.
    if (d_.size() >= 3 && d_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }

  // Reads the next record into `fields`; `start_line` is the physical line it starts on. On a
  // malformed record the reader has skipped to the end of it (or of the file). With `starts`, the
  // offset in `data` where each field begins (one more than `fields` when a quoted field is not
  // closed).
  Status next(std::vector<std::string_view>& fields, std::size_t& start_line,
              std::size_t& bad_field, std::vector<std::size_t>* starts = nullptr) {
    fields.clear();
    if (starts != nullptr) starts->clear();
    scratch_.clear();
    fixups_.clear();
    const std::size_t n = d_.size();
    if (pos_ >= n) return Status::kEnd;
    start_line = line_;
    const char* d = d_.data();
    for (;;) {
      if (starts != nullptr) starts->push_back(pos_);
      // Spaces before an opening quote are tolerated (` "name" ,` in hand-written headers).
      std::size_t s = pos_;
      while (s < n && d[s] == ' ') ++s;
      if (s < n && d[s] == '"') pos_ = s;
      if (pos_ < n && d[pos_] == '"') {
        const std::size_t begin = ++pos_;
        std::size_t seg = begin;
        bool escaped = false;
        std::size_t scratch_start = 0;
        for (;;) {
          const void* q = std::memchr(d + pos_, '"', n - pos_);
          if (q == nullptr) {
            count_lines(pos_, n);
            pos_ = n;
            bad_field = fields.size();
            return Status::kUnterminatedQuote;
          }
          const std::size_t qi = static_cast<std::size_t>(static_cast<const char*>(q) - d);
          count_lines(pos_, qi);
          if (qi + 1 < n && d[qi + 1] == '"') {
            if (!escaped) {
              escaped = true;
              scratch_start = scratch_.size();
            }
            scratch_.append(d + seg, qi + 1 - seg);
            pos_ = qi + 2;
            seg = pos_;
            continue;
          }
          if (escaped) {
            scratch_.append(d + seg, qi - seg);
            fixups_.push_back({fields.size(), scratch_start, scratch_.size() - scratch_start});
            fields.emplace_back();
          } else {
            fields.emplace_back(d + begin, qi - begin);
          }
          pos_ = qi + 1;
          break;
        }
        while (pos_ < n && (d[pos_] == ' ' || d[pos_] == '\t' || d[pos_] == '\r')) ++pos_;
        if (pos_ < n && d[pos_] != ',' && d[pos_] != '\n') {
          bad_field = fields.size() - 1;
          skip_to_line_end();
          return Status::kTextAfterQuote;
        }
      } else {
        std::size_t e = pos_;
        while (e < n && d[e] != ',' && d[e] != '\n') ++e;
        std::size_t end = e;
        if (end > pos_ && d[end - 1] == '\r' && (e == n || d[e] == '\n')) --end;
        fields.emplace_back(d + pos_, end - pos_);
        pos_ = e;
      }
      if (pos_ >= n) break;
      if (d[pos_] == ',') {
        ++pos_;
        continue;
      }
      ++pos_;  // '\n'
      ++line_;
      break;
    }
    for (const auto& f : fixups_)
      fields[f.field] = std::string_view(scratch_).substr(f.offset, f.size);
    return Status::kRecord;
  }

 private:
  struct Fixup {
    std::size_t field, offset, size;
  };
  void count_lines(std::size_t from, std::size_t to) {
    line_ += static_cast<std::size_t>(std::count(d_.data() + from, d_.data() + to, '\n'));
  }
  void skip_to_line_end() {
    const void* nl = std::memchr(d_.data() + pos_, '\n', d_.size() - pos_);
    if (nl == nullptr) {
      pos_ = d_.size();
      return;
    }
    pos_ = static_cast<std::size_t>(static_cast<const char*>(nl) - d_.data()) + 1;
    ++line_;
  }

  std::string_view d_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::string scratch_;
  std::vector<Fixup> fixups_;
};

// One field of a record and where it starts in the text (1-based line and column, in bytes).
struct CsvField {
  std::string_view text;
  std::size_t line = 0;
  std::size_t column = 0;
};

class CsvRecords final {
 public:
  // `name` is the text's name in messages (a file's path).
  CsvRecords(std::string_view text, std::string name);

  // The next record (fields valid until the next call); false at the end of the text. Throws
  // core::Error "name:line:column: quoted field is not closed" (the field's start) or
  // "...: unexpected text after a closing quote".
  bool next(std::vector<CsvField>& record);

 private:
  // 1-based line and column of `offset`, counting from the last position asked (offsets only grow).
  void locate(std::size_t offset, std::size_t& line, std::size_t& column);

  std::string_view text_;
  std::string name_;
  CsvReader reader_;
  std::vector<std::string_view> fields_;
  std::vector<std::size_t> starts_;
  std::size_t at_ = 0;          // offset located last
  std::size_t at_line_ = 1;     // its line
  std::size_t line_start_ = 0;  // offset of that line's first byte
};

}  // namespace netsentry::data
