// Provides store::EvidenceStore, the packets behind each alert on disk: for an alert about a host
// (and optionally its peer) it copies that host's packets from the capture::PacketRecorder ring —
// from a little before the alert's first time to its latest — into <dir>/alert-<id>.pcap, and
// appends newer packets while the alert stays engaged, so an analyst can open exactly what the
// alert saw in Wireshark or tcpdump. Bounded: at most max_alert_bytes per alert (later packets
// counted as truncated) and max_total_bytes for the folder (the least recently written files go
// first, counted); files older than the retention are removed, as the SQLite store removes rows.
// Files are classic pcap (nanosecond timestamps) in the link type of the alert's first packet;
// packets of another link type (a pcapng replay mixing link types) are counted and left out.
// A failed write (disk full) is counted and cut back, never leaves a torn record.
// EvidenceSink turns every delivery of an alert about a host, or about a network or a block of
// networks (a flood spread over their hosts: the packets to and from any of them), into a
// request; read_evidence_file()
// reads a file for download, cut to its last whole record (a file may be appended meanwhile).
// The worker takes every request waiting at once and reads the recorder's ring once for all of
// them (PacketRecorder::for_each_of), so a flood at thousands of hosts, each with an engaged
// alert, costs a pass over the ring per batch, not per alert.
// Thread rules: request(), file_for() and stats() from any thread; a worker thread of its own
// does the copying and writing. The recorder must outlive the store.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capture/packet_recorder.h"
#include "detect/alert.h"
#include "detect/sinks.h"
#include "detect/suppression.h"
#include "net/packet.h"

namespace netsentry::store {

struct EvidenceOptions {
  std::filesystem::path dir;                               // created when missing
  std::uint64_t max_total_bytes = std::uint64_t{1} << 30;  // the folder
  std::uint64_t max_alert_bytes = std::uint64_t{16} << 20;
  std::int64_t before_ns = 30'000'000'000;  // packets this long before the alert's first time
  double retention_days = 7;                // 0: keep until the size budget needs the room
  std::uint32_t snaplen = 262144;           // written into each file's header
  std::size_t max_pending = 4096;           // alerts waiting to be written (coalesced by id)
};

// One alert's evidence to bring up to date (its latest state; a later request for the same id
// replaces an unprocessed earlier one).
struct EvidenceRequest {
  std::int64_t alert_id = 0;
  net::IpAddress host;                 // the alert's profile
  std::optional<net::IpAddress> peer;  // narrows the packets to one conversation when known
  std::int64_t first_ns = 0;           // packet time of the alert's first evidence
  std::int64_t last_ns = 0;            // and of its latest
  std::uint8_t prefix = 0;             // nonzero: the profile is the network host/prefix
};

struct EvidenceStats {
  std::uint64_t requests = 0;
  std::uint64_t dropped_requests = 0;  // queue full
  std::uint64_t files_written = 0;     // files created
  std::uint64_t packets_written = 0;
  std::uint64_t truncated_packets = 0;   // past max_alert_bytes
  std::uint64_t other_link_packets = 0;  // not the file's link type
  std::uint64_t files_evicted = 0;       // removed for the size budget
  std::uint64_t files_expired = 0;       // removed by the retention
  std::uint64_t write_errors = 0;
  std::uint64_t files = 0;  // on disk now
  std::uint64_t bytes = 0;  // on disk now
};

class EvidenceStore final {
 public:
  // Creates the folder and counts the files a previous run left in it. Throws core::Error when
  // the folder cannot be created.
  EvidenceStore(const capture::PacketRecorder& recorder, EvidenceOptions options);
  // Writes what is still pending, then stops the worker.
  ~EvidenceStore();
  EvidenceStore(const EvidenceStore&) = delete;
  EvidenceStore& operator=(const EvidenceStore&) = delete;

  // Any thread; never blocks on I/O. Ignored when the recorder is off.
  void request(const EvidenceRequest& request);
  // Any thread: waits until every request made so far is written (tests, shutdown).
  void drain();
  // Any thread: the alert's capture file when one was written.
  [[nodiscard]] std::optional<std::filesystem::path> file_for(std::int64_t alert_id) const;
  [[nodiscard]] EvidenceStats stats() const;
  [[nodiscard]] const std::filesystem::path& dir() const { return options_.dir; }

  // The file name of an alert's evidence inside the folder.
  [[nodiscard]] static std::string file_name(std::int64_t alert_id);

 private:
  struct FileState {
    // The newest packet time looked at: in the file, or left out (past the cap, another link
    // type). The next request starts after it.
    std::int64_t written_to_ns = INT64_MIN;
    std::uint64_t bytes = 0;
    int link_type = -1;
    std::uint64_t sequence = 0;  // last write order, for eviction
  };
  struct Job;  // one request's file brought up to date (evidence_store.cpp)
  void run(std::stop_token stop);
  // Brings every request's file up to date in one pass over the recorder's ring.
  void process(const std::vector<EvidenceRequest>& requests);
  // The job of a request, or nullopt when it has nothing to do (an earlier run's file).
  std::optional<Job> start(const EvidenceRequest& request);
  // Counts a job's outcome and records its file (under mutex_, which it takes).
  void finish(Job& job);
  void enforce_budget_locked();
  void expire_locked();

  const capture::PacketRecorder& recorder_;
  EvidenceOptions options_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable_any wake_;
  std::condition_variable idle_;
  std::map<std::int64_t, EvidenceRequest> pending_;
  bool busy_ = false;
  std::map<std::int64_t, FileState> files_;
  std::uint64_t sequence_ = 0;
  std::int64_t last_expiry_check_s_ = 0;
  EvidenceStats stats_;
  // The worker's: a lone request's records on their way to its file, a chunk at a time (reused).
  std::string records_;

  std::jthread worker_;  // last: starts after everything it uses exists
};

// The detection stage's sink that keeps each alert's evidence file up to date: every delivery of
// an alert about a host (raised, updated, escalated, past) asks for the host's packets from a
// little before the alert's first time to its latest, of an alert about a network or a block
// (profile "10.9.0.0/16") for the packets of any address in it; alerts about an interface
// (volume) or the system are ignored. flush() waits until every request is written.
class EvidenceSink final : public detect::AlertSink {
 public:
  explicit EvidenceSink(EvidenceStore& store) : store_(store) {}
  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  void flush() override { store_.drain(); }

 private:
  EvidenceStore& store_;
};

// The network an alert's profile names ("10.9.0.0/24", "2001:db8:1::/48"), or nullopt for a
// host's, an interface's ("eth0", "capture") or anything else.
[[nodiscard]] std::optional<detect::Subnet> network_profile(std::string_view profile);

// The largest evidence file read for a download (a file holds at most max_alert_bytes).
inline constexpr std::uint64_t kMaxEvidenceFileBytes = std::uint64_t{64} << 20;

// The bytes of an evidence file (classic pcap) for a download: nullopt when it is missing, is not
// a classic pcap, or is larger than max_bytes; a record still being appended is left out.
[[nodiscard]] std::optional<std::string> read_evidence_file(const std::filesystem::path& path,
                                                            std::uint64_t max_bytes);

}  // namespace netsentry::store
