// Provides load_csv(), which reads one or more CSV files of network records into a data::Dataset,
// recognising the dialects we train on (the original project's schema, our own flows.csv,
// CIC-IDS2017 in both its 2017 and corrected spellings, NSL-KDD, UNSW-NB15, or any labelled CSV),
// plus the CIC column alias table that maps every spelling to one canonical name.
// Thread rules: free functions without shared state; safe to call from several threads.
//
// Column kinds: protocol columns (Protocol, protocol_type, proto) are categorical in every dialect,
// with canonical values ("tcp", "udp", "icmp", other numbers as text); NSL-KDD service/flag and
// UNSW-NB15 service/state are categorical; kGeneric infers kinds; everything else is numeric.
// Context columns (timestamp, source host) fill Dataset::timestamp/group and are never features.
//
// Missing-value policy: empty cells, NaN, Infinity and -Infinity in numeric columns are stored as
// NaN and counted (LoadReport::columns); data::Preprocessor replaces them with the training median.
// A malformed row (wrong number of fields, text in a numeric column, broken quoting) is a
// core::Error "file:line:column: ..." unless LoadOptions::skip_bad_rows, which skips and counts it.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace netsentry::data {

enum class Format {
  kAuto,        // detect from the header of the first file
  kOriginal,    // Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label
  kFlows,       // our `flows` CSV (start_time,...,end_reason, original 6, CIC features, packets)
  kCicIds2017,  // CICFlowMeter CSVs: 2017 release or corrected (Engelen et al.) release
  kNslKdd,      // headerless, 41 features + attack name (+ difficulty, dropped)
  kUnswNb15,    // UNSW-NB15 training/testing sets: `label` 0/1, `attack_cat`
  kGeneric,     // any CSV with a header; needs label_column for a labelled dataset
};

[[nodiscard]] std::string_view to_string(Format format);
// Parses "auto", "original", "flows", "cicids2017" (or "cic"), "nsl-kdd", "unsw-nb15", "generic".
[[nodiscard]] std::optional<Format> parse_format(std::string_view name);

struct LoadOptions {
  Format format = Format::kAuto;
  // Empty = the format's default ("Label" for original/flows/CIC, "label" for UNSW, column 42 for
  // NSL-KDD). For kGeneric an empty label_column means an unlabelled dataset; a named column that
  // does not exist is an error.
  std::string label_column;
  // A row is normal (y = 0) when its label equals negative_value (ASCII case-insensitive, trimmed);
  // if positive_value is set instead, a row is an attack exactly when it equals positive_value.
  // Empty both = the format's default: original: positive "Attack"; CIC: negative "BENIGN";
  // NSL-KDD: negative "normal"; UNSW-NB15: negative "0"; generic: negative is any of 0, normal,
  // benign, false.
  std::string negative_value;
  std::string positive_value;
  // Column whose text becomes class_names (multi-class reports). Empty = the label column, or
  // `attack_cat` for UNSW-NB15.
  std::string class_column;
  bool skip_bad_rows = false;
  // Identifier/context columns excluded from the features. nullopt = the format's default:
  //   original: SourcePort (ephemeral ports are noise).
  //   flows:    start_time,end_time,src_ip,src_port,dst_ip,dst_port,protocol,vlan,end_reason,
  //             packets, SourcePort, and the CIC identifiers below.
  //   CIC:      id, Flow ID, Src IP, Src Port, Dst IP, Timestamp, Attempted Category
  //             (Dst Port and Protocol are kept as features).
  //   NSL-KDD:  difficulty.
  //   UNSW-NB15: id, srcip, sport, dstip, stime, ltime.
  //   generic:  none.
  // Names may use any CIC spelling. Naming a column that is absent is not an error.
  std::optional<std::vector<std::string>> drop_columns;
  // Extra columns to treat as categorical (kGeneric infers the kind from the first 1,000 data rows:
  // a column with any non-numeric text there is categorical).
  std::vector<std::string> categorical_columns;
  std::size_t max_rows = 0;  // 0 = all; otherwise stop after this many rows (for quick looks)
};

// What a load did, for logs and the model bundle's training-data summary.
struct LoadReport {
  struct ColumnStats {
    std::string name;
    std::size_t empty = 0;       // empty numeric cells (stored as NaN)
    std::size_t non_finite = 0;  // NaN / Infinity / -Infinity cells (stored as NaN)
  };
  Format format = Format::kAuto;  // the dialect used
  std::vector<std::string> files;
  std::size_t rows = 0;
  std::size_t bad_rows = 0;                   // skipped because skip_bad_rows was set
  std::vector<std::string> bad_row_examples;  // the first few messages, "file:line:column: ..."
  std::vector<std::string> renamed;           // "Total Fwd Packets -> Total Fwd Packet", once each
  std::vector<std::string> ignored_duplicates;  // repeated header names (the first one is used)
  std::vector<ColumnStats> columns;  // only columns with at least one missing/non-finite cell
  double seconds = 0;                // wall time of the whole load

  // A multi-line human summary.
  [[nodiscard]] std::string summary() const;
};

// Loads and concatenates the files (each entry a path or a glob with * ? [..]); every file must
// have the same dialect and the same set of columns (in any order). Throws core::Error on a missing
// or unreadable file, a glob that matches nothing, mismatched columns, or a malformed row (unless
// skip_bad_rows).
[[nodiscard]] Dataset load_csv(std::span<const std::string> paths_or_globs,
                               const LoadOptions& options = {}, LoadReport* report = nullptr);

// Canonical (corrected CICFlowMeter) spelling of a column name: trims spaces and maps every known
// 2017/corrected/CICFlowMeter-V3 spelling ("Total Backward Packets", "Init_Win_bytes_forward",
// "Destination Port", ...) to the name our flow meter writes ("Total Bwd packets",
// "FWD Init Win Bytes", "Dst Port"). Unknown names are returned trimmed and otherwise unchanged.
[[nodiscard]] std::string canonical_column_name(std::string_view name);

// The NSL-KDD feature names (41, from Field_Names.csv) and which of them are categorical.
[[nodiscard]] std::span<const std::string_view> nsl_kdd_feature_names();

// Canonical text for a protocol cell, so that "TCP", "tcp" and "6" are one category in every
// dialect: lower-case name for tcp/udp/icmp/icmpv6/sctp/gre (numbers 6/17/1/58/132/47 included),
// otherwise the trimmed text. Used for columns named Protocol / protocol_type / proto.
[[nodiscard]] std::string canonical_protocol(std::string_view text);

}  // namespace netsentry::data
