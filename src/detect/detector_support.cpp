#include "detect/detector_support.h"

#include <fmt/format.h>

#include <cmath>

#include "detect/alert_format.h"

namespace netsentry::detect {

using flow::CicFeature;

std::uint64_t subject_of(std::string_view detector, const SubjectKey& key) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the name
  for (const char c : detector) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return static_cast<std::uint64_t>(SubjectKeyHash{}(key)) ^ mix64(h);
}

double rule_confidence(double value, double threshold, double critical_factor) {
  if (!(threshold > 0) || !(value >= threshold)) return 0.8;
  if (!(critical_factor > 1)) return 1.0;
  const double over = std::log(value / threshold) / std::log(critical_factor);
  return 0.8 + 0.2 * std::clamp(over, 0.0, 1.0);
}

std::uint64_t payload_bytes(const flow::FlowRecord& record) {
  return static_cast<std::uint64_t>(record[CicFeature::kTotalLengthFwd] +
                                    record[CicFeature::kTotalLengthBwd]);
}

TcpHandshake tcp_handshake(const flow::FlowRecord& record) {
  TcpHandshake result;
  if (record.ip_proto != kTcp) return result;
  if (record.first_packets.empty()) {
    // No packet summaries kept: judge from the flag counts (SYN and SYN-ACK, an ACK each way).
    const double syn = record[CicFeature::kSynFlagCount];
    result.attempt = syn > 0;
    result.completed = syn >= 2 && record[CicFeature::kTotalBwdPackets] >= 1 &&
                       record[CicFeature::kTotalFwdPacket] >= 2 &&
                       record[CicFeature::kAckFlagCount] >= 2;
    return result;
  }
  using net::tcp_flag::kAck;
  using net::tcp_flag::kSyn;
  const flow::PacketSummary& first = record.first_packets.front();
  result.attempt = first.direction > 0 && (first.tcp_flags & kSyn) && !(first.tcp_flags & kAck);
  if (!result.attempt) return result;
  bool syn_ack = false;
  for (const flow::PacketSummary& p : record.first_packets) {
    const bool syn = p.tcp_flags & kSyn;
    const bool ack = p.tcp_flags & kAck;
    if (!syn_ack) {
      syn_ack = p.direction < 0 && syn && ack;
    } else if (p.direction > 0 && ack && !syn) {
      result.completed = true;
      break;
    }
  }
  return result;
}

bool is_probe(const flow::FlowRecord& record) {
  const bool no_reply = record[CicFeature::kTotalBwdPackets] <= 0;
  switch (record.ip_proto) {
    case kTcp: {
      if (payload_bytes(record) > 0) return false;
      return !tcp_handshake(record).completed || record[CicFeature::kRstFlagCount] > 0;
    }
    case kUdp:
      return no_reply;
    case kIcmp:
    case kIcmpv6: {
      const double type = record[CicFeature::kIcmpType];
      const bool echo_request =
          (record.ip_proto == kIcmp && type == 8) || (record.ip_proto == kIcmpv6 && type == 128);
      return echo_request && no_reply;
    }
    default:
      return false;
  }
}

std::string_view service_name(std::uint16_t port) {
  switch (port) {
    case 21:
      return "FTP";
    case 22:
      return "SSH";
    case 23:
      return "Telnet";
    case 25:
    case 587:
      return "SMTP";
    case 465:
      return "SMTPS";
    case 80:
    case 8080:
      return "HTTP";
    case 110:
      return "POP3";
    case 143:
      return "IMAP";
    case 389:
      return "LDAP";
    case 443:
    case 8443:
      return "HTTPS";
    case 445:
      return "SMB";
    case 993:
      return "IMAPS";
    case 995:
      return "POP3S";
    case 1433:
      return "MSSQL";
    case 3306:
      return "MySQL";
    case 3389:
      return "RDP";
    case 5432:
      return "PostgreSQL";
    case 5900:
      return "VNC";
    default:
      return {};
  }
}

std::string service_suffix(std::uint16_t port) {
  const std::string_view name = service_name(port);
  return name.empty() ? std::string() : fmt::format(" ({})", name);
}

std::string FloodedBlocks::name_of(const net::IpAddress& address) {
  return fmt::format("{}/{}", block_of(address).to_string(), block_prefix_of(address));
}

FloodedBlocks::Block& FloodedBlocks::touch(const net::IpAddress& address, std::uint8_t tag,
                                           std::int64_t now_ns, const net::IpAddress& first) {
  const SubjectKey key = key_of(address, tag);
  auto it = blocks_.find(key);
  if (it != blocks_.end() && now_ns - it->second.last_ns > keep_ns_) {
    blocks_.erase(it);
    it = blocks_.end();
  }
  if (it == blocks_.end()) {
    if (blocks_.size() >= max_blocks_) {
      // Rare (a block is made only when it or one of its networks is flooded): a scan for the
      // stalest.
      auto stalest = blocks_.begin();
      for (auto b = blocks_.begin(); b != blocks_.end(); ++b) {
        if (b->second.last_ns < stalest->second.last_ns) stalest = b;
      }
      blocks_.erase(stalest);
    }
    it = blocks_.emplace(key, Block{key.dst, first, {}, {}, now_ns, {}}).first;
  }
  it->second.last_ns = std::max(it->second.last_ns, now_ns);
  return it->second;
}

void FloodedBlocks::claim(const net::IpAddress& address, std::uint8_t tag, std::int64_t now_ns) {
  touch(address, tag, now_ns, net::IpAddress{});
}

bool FloodedBlocks::join(const net::IpAddress& network, std::uint8_t tag, std::int64_t now_ns) {
  Block& b = touch(network, tag, now_ns, network);
  b.low = b.seen.empty() ? network : std::min(b.low, network);
  b.high = b.seen.empty() ? network : std::max(b.high, network);
  // The network's index in the block: IPv4 the third byte, IPv6 the fourth 16-bit group.
  const auto index = network.family == 6
                         ? static_cast<std::uint16_t>((network.bytes[6] << 8) | network.bytes[7])
                         : std::uint16_t{network.bytes[2]};
  const auto at = std::lower_bound(b.seen.begin(), b.seen.end(), index);
  if ((at == b.seen.end() || *at != index) && b.seen.size() < kMaxNetworks) {
    b.seen.insert(at, index);
  }
  return !(network == b.first);
}

std::string FloodedBlocks::describe(const Block& block, std::uint8_t prefix) {
  const std::size_t n = block.seen.size();
  if (n == 0) return name_of(block.address);
  if (n == 1) {
    return fmt::format("1 network of {} ({}/{})", name_of(block.address), block.low.to_string(),
                       prefix);
  }
  return fmt::format("{}{} networks of {} ({}/{} to {}/{})", format_count(n),
                     n >= kMaxNetworks ? "+" : "", name_of(block.address), block.low.to_string(),
                     prefix, block.high.to_string(), prefix);
}

std::string block_suffix(const FloodedBlocks::Block& block, std::uint8_t prefix, bool network) {
  if (network) {
    // The first network of a flood its block claimed: the block's flood, not yet seen elsewhere.
    if (block.seen.size() <= 1) {
      return fmt::format("; part of a flood over neighbouring networks of {}",
                         FloodedBlocks::name_of(block.address));
    }
    return fmt::format("; one of {} flooded together", FloodedBlocks::describe(block, prefix));
  }
  if (block.seen.empty()) return {};
  return fmt::format("; flooded so far: {}", FloodedBlocks::describe(block, prefix));
}

const FloodedBlocks::Block* FloodedBlocks::find(const net::IpAddress& network,
                                                std::uint8_t tag) const {
  const auto it = blocks_.find(key_of(network, tag));
  return it == blocks_.end() ? nullptr : &it->second;
}

void push_with_culprit(std::vector<Evidence>& out, Evidence ev) {
  // A victim is a host, or a network (no address; its profile is named by `interface`).
  const bool network = ev.host.family == 0 && !ev.interface.empty();
  if (ev.role != Role::kVictim || ev.peer.family == 0 || (ev.host.family == 0 && !network)) {
    out.push_back(std::move(ev));
    return;
  }
  Evidence culprit = ev;
  culprit.host = ev.peer;
  culprit.peer = ev.host;
  if (network) culprit.interface.clear();
  culprit.role = Role::kAttacker;
  culprit.subject = mix64(ev.subject ^ 0x5bd1e995ULL);
  out.push_back(std::move(ev));
  out.push_back(std::move(culprit));
}

Evidence rule_evidence(std::string_view kind, std::string_view detector, const SubjectKey& key,
                       const Track& track, int level, double confidence) {
  Evidence e;
  e.kind = std::string(kind);
  e.detector = std::string(detector);
  e.first_ns = track.first_ns;
  e.time_ns = track.last_ns;
  e.threat = threat_for(level);
  e.confidence = std::clamp(confidence, 0.0, 1.0);
  e.ip_proto = key.proto;
  e.port = key.port;
  e.subject = subject_of(detector, key);
  return e;
}

}  // namespace netsentry::detect
