#include "store/evidence_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>

#include "capture/capture_file_writer.h"
#include "core/error.h"

namespace netsentry::store {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "alert-";
constexpr std::string_view kSuffix = ".pcap";
constexpr std::size_t kHeaderBytes = 24;
// Records are written to a file in chunks of about this many bytes; a batch of many alerts
// shares kBatchBytes among them (at least kMinChunkBytes each).
constexpr std::size_t kChunkBytes = 256 << 10;
constexpr std::size_t kBatchBytes = 16 << 20;
constexpr std::size_t kMinChunkBytes = 4 << 10;

// The alert id in "alert-<id>.pcap", or nullopt for any other name.
std::optional<std::int64_t> id_of(const std::string& name) {
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size() - kSuffix.size();
  std::int64_t id = 0;
  const auto r = std::from_chars(first, last, id);
  if (r.ec != std::errc() || r.ptr != last || id <= 0) return std::nullopt;
  return id;
}

// Writes all of `data` at the end of `fd`; on failure cuts the file back to `size_before`, so a
// full disk never leaves a torn record. Returns false (errno kept) on failure.
bool append_all(int fd, std::string_view data, off_t size_before) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      if (::ftruncate(fd, size_before) != 0) {
        // Nothing more to do: the next append starts after the torn part, which readers stop at.
      }
      errno = saved;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string EvidenceStore::file_name(std::int64_t alert_id) {
  return std::string(kPrefix) + std::to_string(alert_id) + std::string(kSuffix);
}

EvidenceStore::EvidenceStore(const capture::PacketRecorder& recorder, EvidenceOptions options)
    : recorder_(recorder), options_(std::move(options)) {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec || !fs::is_directory(options_.dir)) {
    throw core::Error(options_.dir.string() + ": cannot create the evidence folder (" +
                      ec.message() + ")");
  }
  // Files of an earlier run count against the budget; they are complete (no appends).
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    const auto id = id_of(entry.path().filename().string());
    if (!id || !entry.is_regular_file(ec)) continue;
    FileState state;
    state.written_to_ns = INT64_MAX;
    state.bytes = entry.file_size(ec);
    state.sequence = 0;
    files_[*id] = state;
    stats_.bytes += state.bytes;
  }
  stats_.files = files_.size();
  {
    std::lock_guard lock(mutex_);
    expire_locked();
    enforce_budget_locked();
  }
  worker_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

EvidenceStore::~EvidenceStore() {
  worker_.request_stop();
  wake_.notify_all();
  worker_.join();
}

void EvidenceStore::request(const EvidenceRequest& request) {
  if (!recorder_.enabled() || request.alert_id <= 0 || request.host.family == 0) return;
  {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    auto it = pending_.find(request.alert_id);
    if (it != pending_.end()) {
      it->second = request;
    } else if (pending_.size() >= options_.max_pending) {
      ++stats_.dropped_requests;
      return;
    } else {
      pending_.emplace(request.alert_id, request);
    }
  }
  wake_.notify_one();
}

void EvidenceStore::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return pending_.empty() && !busy_; });
}

std::optional<fs::path> EvidenceStore::file_for(std::int64_t alert_id) const {
  std::lock_guard lock(mutex_);
  if (files_.count(alert_id) == 0) return std::nullopt;
  return options_.dir / file_name(alert_id);
}

EvidenceStats EvidenceStore::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void EvidenceStore::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (true) {
    // Pending requests are written before the worker stops: a stop signal loses no evidence.
    wake_.wait_for(lock, stop, std::chrono::seconds(60), [&] { return !pending_.empty(); });
    if (pending_.empty()) {
      expire_locked();
      if (stop.stop_requested()) break;
      continue;
    }
    // Every request waiting, in one pass over the recorder's ring: many engaged alerts at once
    // (a flood at thousands of hosts) would otherwise read the whole ring once per alert.
    std::vector<EvidenceRequest> batch;
    batch.reserve(pending_.size());
    for (auto& [id, r] : pending_) batch.push_back(r);
    pending_.clear();
    busy_ = true;
    lock.unlock();
    try {
      process(batch);
    } catch (const std::exception& e) {
      spdlog::warn("evidence for {} alert{}: {}", batch.size(), batch.size() == 1 ? "" : "s",
                   e.what());
    }
    lock.lock();
    busy_ = false;
    if (pending_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

// One request's file brought up to date: the packets the ring holds for it go into `data` and from
// there to the file's end, a chunk of whole records at a time. The file is opened at the first
// chunk (none: no file) and closed after each one, so a batch of thousands of alerts holds no
// descriptors between chunks.
struct EvidenceStore::Job {
  EvidenceRequest request;
  FileState state;
  capture::RecorderQuery query;
  std::filesystem::path path;
  std::string data;
  std::size_t chunk_bytes = kChunkBytes;
  bool opened = false;  // the file was opened once (`before` is its size then)
  off_t before = 0;     // the file's size before this request: a failed write cuts it back
  bool failed = false;
  std::uint64_t written_bytes = 0;
  std::uint64_t packets = 0;
  // The newest packet looked at, written or not (past the cap, another link type): the next
  // request starts after it, so a full file's later packets are counted once, not at every
  // update.
  std::int64_t newest = INT64_MIN;
  std::uint64_t truncated = 0, other_link = 0;
  std::uint64_t room = 0;
  int link_type = -1;
  std::uint32_t snaplen = 0;

  void write_out() {
    if (failed) data.clear();  // the file was cut back: only the counts go on
    if (data.empty()) return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      failed = true;
      return;
    }
    if (!opened) {
      opened = true;
      struct stat st {};
      before = ::fstat(fd, &st) == 0 ? st.st_size : 0;
      if (state.bytes == 0 && before != 0) {
        // A stray file of that name (not ours): start it over.
        if (::ftruncate(fd, 0) != 0) failed = true;
      }
      if (state.bytes == 0) before = 0;
    }
    if (!failed && append_all(fd, data, before)) {
      written_bytes += data.size();
    } else {
      failed = true;
      written_bytes = 0;  // cut back to where this request began
    }
    ::close(fd);
    data.clear();
  }

  // One packet of the query, oldest first.
  void add(const capture::RecordedPacket& packet) {
    newest = std::max(newest, packet.ts_ns);
    if (link_type < 0) link_type = packet.link_type;
    if (packet.link_type != link_type) {
      ++other_link;
      return;
    }
    const std::uint64_t cost = 16 + packet.cap_len;
    if (cost > room) {
      ++truncated;
      return;
    }
    // A packet kept by reference is read from its file only here, once it has room; one the file
    // no longer holds is left out (the recorder counts it).
    if (packet.bytes().size() != packet.cap_len) return;
    room -= cost;
    if (packets == 0 && state.bytes == 0) {
      data.append(capture::classic_pcap_header(link_type, snaplen));
    }
    capture::append_classic_pcap_record(data, packet);
    ++packets;
    if (data.size() >= chunk_bytes) write_out();
  }
};

std::optional<EvidenceStore::Job> EvidenceStore::start(const EvidenceRequest& request) {
  Job job;
  job.request = request;
  {
    std::lock_guard lock(mutex_);
    if (auto it = files_.find(request.alert_id); it != files_.end()) job.state = it->second;
  }
  if (job.state.written_to_ns == INT64_MAX) return std::nullopt;  // an earlier run's file
  job.query.host = request.host;
  job.query.prefix = request.prefix;
  job.query.peer = request.peer;
  job.query.from_ns =
      std::max(request.first_ns - options_.before_ns,
               job.state.written_to_ns == INT64_MIN ? INT64_MIN : job.state.written_to_ns + 1);
  // A second of slack: packets of the latest evidence may be stamped just after it.
  job.query.to_ns = request.last_ns + 1'000'000'000;
  if (job.query.to_ns < job.query.from_ns) return std::nullopt;
  job.path = options_.dir / file_name(request.alert_id);
  job.newest = job.state.written_to_ns;
  job.room =
      job.state.bytes >= options_.max_alert_bytes ? 0 : options_.max_alert_bytes - job.state.bytes;
  if (job.state.bytes == 0) job.room = job.room > kHeaderBytes ? job.room - kHeaderBytes : 0;
  job.link_type = job.state.link_type;
  job.snaplen = options_.snaplen;
  return job;
}

void EvidenceStore::process(const std::vector<EvidenceRequest>& requests) {
  std::vector<Job> jobs;
  jobs.reserve(requests.size());
  for (const EvidenceRequest& r : requests) {
    if (auto job = start(r)) jobs.push_back(std::move(*job));
  }
  if (jobs.empty()) return;
  // The records waiting for their files stay within kBatchBytes however many alerts there are.
  const std::size_t chunk =
      std::clamp<std::size_t>(kBatchBytes / jobs.size(), kMinChunkBytes, kChunkBytes);
  std::vector<capture::RecorderQuery> queries;
  queries.reserve(jobs.size());
  for (Job& job : jobs) {
    job.chunk_bytes = chunk;
    queries.push_back(job.query);
  }
  // A lone alert (the usual case) writes through the worker's own buffer, reused.
  if (jobs.size() == 1) jobs.front().data.swap(records_);
  recorder_.for_each_of(queries, [&](std::size_t i, const capture::RecordedPacket& packet) {
    jobs[i].add(packet);
    return true;
  });
  for (Job& job : jobs) {
    job.write_out();
    finish(job);
  }
  if (jobs.size() == 1) jobs.front().data.swap(records_);
}

void EvidenceStore::finish(Job& job) {
  const bool created = !job.failed && job.written_bytes > 0 && job.state.bytes == 0;
  if (job.failed && job.state.bytes == 0) {
    std::error_code ec;
    fs::remove(job.path, ec);
  }

  std::lock_guard lock(mutex_);
  stats_.truncated_packets += job.truncated;
  stats_.other_link_packets += job.other_link;
  if (job.failed) {
    ++stats_.write_errors;
    return;
  }
  if (job.written_bytes == 0) {
    // Nothing added (the file is full, or no new packet): what was looked at stays looked at.
    if (auto it = files_.find(job.request.alert_id); it != files_.end()) {
      it->second.written_to_ns = std::max(it->second.written_to_ns, job.newest);
    }
    return;
  }
  FileState& stored = files_[job.request.alert_id];
  stored.bytes += job.written_bytes;
  stored.written_to_ns = job.newest;
  stored.link_type = job.link_type;
  stored.sequence = ++sequence_;
  stats_.bytes += job.written_bytes;
  stats_.packets_written += job.packets;
  if (created) ++stats_.files_written;
  stats_.files = files_.size();
  enforce_budget_locked();
}

void EvidenceStore::enforce_budget_locked() {
  while (stats_.bytes > options_.max_total_bytes && files_.size() > 1) {
    // The least recently written file goes first (files of an earlier run before all others).
    auto victim = std::min_element(files_.begin(), files_.end(), [](const auto& a, const auto& b) {
      return a.second.sequence < b.second.sequence;
    });
    std::error_code ec;
    fs::remove(options_.dir / file_name(victim->first), ec);
    stats_.bytes -= std::min(stats_.bytes, victim->second.bytes);
    files_.erase(victim);
    ++stats_.files_evicted;
  }
  stats_.files = files_.size();
}

void EvidenceStore::expire_locked() {
  if (options_.retention_days <= 0) return;
  const std::int64_t now = now_s();
  if (now - last_expiry_check_s_ < 3600) return;  // hourly is plenty for a retention in days
  last_expiry_check_s_ = now;
  const auto limit = fs::file_time_type::clock::now() -
                     std::chrono::duration_cast<fs::file_time_type::duration>(
                         std::chrono::duration<double>(options_.retention_days * 86400.0));
  for (auto it = files_.begin(); it != files_.end();) {
    std::error_code ec;
    const fs::path path = options_.dir / file_name(it->first);
    const auto written = fs::last_write_time(path, ec);
    if (!ec && written < limit) {
      fs::remove(path, ec);
      stats_.bytes -= std::min(stats_.bytes, it->second.bytes);
      it = files_.erase(it);
      ++stats_.files_expired;
    } else {
      ++it;
    }
  }
  stats_.files = files_.size();
}

void EvidenceSink::on_alert(const detect::Alert& alert, detect::AlertChange /*change*/) {
  EvidenceRequest r;
  if (alert.host.family != 0) {
    r.host = alert.host;
  } else if (const auto network = network_profile(alert.interface)) {
    // A network's or a block's alert ("10.9.0.0/16"): the packets of any of its hosts.
    r.host = network->network;
    r.prefix = static_cast<std::uint8_t>(network->prefix);
  } else {
    return;  // an interface's (volume) or the system's
  }
  r.alert_id = alert.id;
  r.first_ns = alert.time_ns;
  r.last_ns = std::max(alert.time_ns, alert.last_ns);
  store_.request(r);
}

std::optional<detect::Subnet> network_profile(std::string_view profile) {
  // Only a prefix: "eth0", "capture" and a bare address are not a network's profile.
  if (profile.find('/') == std::string_view::npos) return std::nullopt;
  auto subnet = detect::Subnet::parse(profile);
  if (!subnet || subnet->prefix == 0) return std::nullopt;
  return subnet;
}

std::optional<std::string> read_evidence_file(const fs::path& path, std::uint64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size > max_bytes || size < kHeaderBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() < kHeaderBytes) return std::nullopt;
  std::uint32_t magic = 0;
  std::memcpy(&magic, data.data(), 4);
  const bool swapped = magic == 0x4d3cb2a1 || magic == 0xd4c3b2a1;
  if (!swapped && magic != 0xa1b23c4d && magic != 0xa1b2c3d4) return std::nullopt;
  // Whole records only: the worker may be appending a batch right now.
  std::size_t at = kHeaderBytes;
  while (at + 16 <= data.size()) {
    std::uint32_t incl = 0;
    std::memcpy(&incl, data.data() + at + 8, 4);
    if (swapped) incl = __builtin_bswap32(incl);
    if (at + 16 + incl > data.size()) break;
    at += 16 + incl;
  }
  data.resize(at);
  return data;
}

}  // namespace netsentry::store
