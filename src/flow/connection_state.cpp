// Zeek's TCP endpoint state machine, history letters and conn_state, re-expressed for one flow
// table slot (Zeek: src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc, TCP.cc and
// base/protocols/conn/main.zeek).
#include "flow/connection_state.h"

#include <algorithm>

namespace netsentry::flow {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

// History bits per side.
constexpr std::uint8_t kSeenSyn = 0x01;
constexpr std::uint8_t kSeenFin = 0x02;
constexpr std::uint8_t kSeenRst = 0x04;
constexpr std::uint8_t kSeenData = 0x08;
constexpr std::uint8_t kSeenAck = 0x10;
constexpr std::uint8_t kSeenMulti = 0x20;
constexpr std::uint8_t kSeenFinRst = 0x40;

// Zeek ignores a SYN or RST whose sequence number jumps this far (likely forged or broken).
constexpr std::int32_t kTooLargeSeqDelta = 1 << 20;

// Ports Zeek's analyzers register as well-known server ports (its likely_server_ports), which its
// session manager uses to pick the initiator of a flow whose first packet is not a SYN.
constexpr std::uint16_t kTcpServerPorts[] = {
    21,   22,   23,   25,   53,   79,   80,   81,   88,   110,  111,  113,  135,  139,  143,
    389,  443,  445,  502,  512,  513,  514,  543,  544,  563,  585,  587,  614,  631,  636,
    989,  990,  992,  993,  995,  1080, 1433, 1883, 2049, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000};
constexpr std::uint16_t kUdpServerPorts[] = {53,   67,   68,   69,   88,   123,  137,  138,  161,
                                             162,  443,  500,  514,  1812, 1813, 2123, 2152, 3544,
                                             4500, 4789, 5060, 5072, 5353, 5355, 6081, 47808};

bool contains(const std::uint16_t* begin, const std::uint16_t* end, std::uint16_t port) {
  return std::binary_search(begin, end, port);
}

char responder_form(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

char swap_case(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
  return c;
}

// Zeek's RSTOS0 test on the history: /^\^?S[^HAFGIQ]*R.*/.
bool syn_then_reset(std::string_view h) {
  if (!h.empty() && h.front() == '^') h.remove_prefix(1);
  if (h.empty() || h.front() != 'S') return false;
  for (std::size_t i = 1; i < h.size(); ++i) {
    switch (h[i]) {
      case 'R':
        return true;
      case 'H':
      case 'A':
      case 'F':
      case 'G':
      case 'I':
      case 'Q':
        return false;
      default:
        break;
    }
  }
  return false;
}

}  // namespace

std::string_view conn_state_name(ConnState state) {
  switch (state) {
    case ConnState::kS0:
      return "S0";
    case ConnState::kS1:
      return "S1";
    case ConnState::kSF:
      return "SF";
    case ConnState::kREJ:
      return "REJ";
    case ConnState::kS2:
      return "S2";
    case ConnState::kS3:
      return "S3";
    case ConnState::kRSTO:
      return "RSTO";
    case ConnState::kRSTR:
      return "RSTR";
    case ConnState::kRSTOS0:
      return "RSTOS0";
    case ConnState::kRSTRH:
      return "RSTRH";
    case ConnState::kSH:
      return "SH";
    case ConnState::kSHR:
      return "SHR";
    case ConnState::kOTH:
    case ConnState::kCount:
      break;
  }
  return "OTH";
}

bool is_likely_server_port(std::uint8_t ip_proto, std::uint16_t port) {
  static_assert(std::is_sorted(std::begin(kTcpServerPorts), std::end(kTcpServerPorts)));
  static_assert(std::is_sorted(std::begin(kUdpServerPorts), std::end(kUdpServerPorts)));
  if (ip_proto == kTcp)
    return contains(std::begin(kTcpServerPorts), std::end(kTcpServerPorts), port);
  if (ip_proto == kUdp)
    return contains(std::begin(kUdpServerPorts), std::end(kUdpServerPorts), port);
  return false;
}

bool initiator_is_destination(const net::Packet& first) {
  if (!first.has_l4) return false;
  const std::uint16_t sport = first.src_port;
  const std::uint16_t dport = first.dst_port;
  if (first.ip_proto == kTcp) {
    const std::uint8_t flags = first.tcp_flags;
    const bool syn = (flags & net::tcp_flag::kSyn) != 0;
    const bool ack = (flags & net::tcp_flag::kAck) != 0;
    if (syn && !ack) return false;  // a client's SYN: the sender is the initiator
    if (!is_likely_server_port(kTcp, sport)) return false;
    // Both plausible: flip only a non-SYN packet from the lower port (Zeek's heuristic; a SYN-ACK
    // from a stealth scan keeps its roles).
    if (is_likely_server_port(kTcp, dport)) return !syn && sport < dport;
    return true;
  }
  if (first.ip_proto == kUdp) {
    return is_likely_server_port(kUdp, sport) && !is_likely_server_port(kUdp, dport) &&
           !net::is_broadcast_or_multicast_address(first.dst);
  }
  return false;
}

void Connection::start(std::uint8_t ip_proto, bool flipped) {
  *this = Connection();
  ip_proto_ = ip_proto;
  if (flipped) history_.push('^');
}

void Connection::add_letter(char letter, bool from_orig) {
  history_.push(from_orig ? letter : responder_form(letter));
}

bool Connection::check_history(Side& side, std::uint8_t bit, char letter, bool from_orig) {
  if (side.seen & bit) return true;
  side.seen |= bit;
  add_letter(letter, from_orig);
  return false;
}

void Connection::scaled(std::uint32_t& count, std::uint32_t& next, char letter, bool from_orig) {
  if (++count != next) return;
  add_letter(letter, from_orig);
  next = next > 100'000'000 ? UINT32_MAX : next * 10;
}

void Connection::flip() {
  std::swap(orig_, resp_);
  for (std::size_t i = 0; i < history_.size; ++i) {
    history_.text[i] = swap_case(history_.text[i]);
  }
  history_.push('^');
}

bool Connection::add(const net::Packet& packet, bool from_originator) {
  bool flip = false;
  if (ip_proto_ == kTcp) {
    if (packet.has_l4) add_tcp(packet, from_originator, flip);
  } else if (ip_proto_ == kUdp) {
    Side& side = from_originator ? orig_ : resp_;
    check_history(side, kSeenData, 'D', from_originator);
  }
  return flip;
}

void Connection::update_history(const net::Packet& p, Side& side, bool from_orig) {
  const std::uint8_t flags = p.tcp_flags;
  const bool syn = (flags & net::tcp_flag::kSyn) != 0;
  const bool fin = (flags & net::tcp_flag::kFin) != 0;
  const bool rst = (flags & net::tcp_flag::kRst) != 0;
  const int bits = int{syn} + int{fin} + int{rst};
  if (bits > 1) {
    if (fin && rst) {
      check_history(side, kSeenFinRst, 'I', from_orig);
    } else {
      check_history(side, kSeenMulti, 'Q', from_orig);
    }
    return;
  }
  if (bits == 1) {
    if (syn) {
      const char code = (flags & net::tcp_flag::kAck) ? 'H' : 'S';
      // A repeated SYN with a new sequence number is a new attempt: its letter repeats.
      if (check_history(side, kSeenSyn, code, from_orig) && p.tcp_seq != side.last_syn) {
        add_letter(code, from_orig);
      }
      side.last_syn = p.tcp_seq;
    }
    if (fin) {
      const std::uint32_t at = p.tcp_seq + p.payload_len;
      if (check_history(side, kSeenFin, 'F', from_orig) && at != side.last_fin) {
        add_letter('F', from_orig);
      }
      side.last_fin = at;
    }
    if (rst) {
      if (check_history(side, kSeenRst, 'R', from_orig) && p.tcp_seq != side.last_rst) {
        add_letter('R', from_orig);
      }
      side.last_rst = p.tcp_seq;
    }
    return;
  }
  if (p.payload_len > 0) {
    check_history(side, kSeenData, 'D', from_orig);
  } else if (flags & net::tcp_flag::kAck) {
    check_history(side, kSeenAck, 'A', from_orig);
  }
}

void Connection::add_tcp(const net::Packet& p, bool from_orig, bool& flip) {
  Side& ep = from_orig ? orig_ : resp_;
  Side& peer = from_orig ? resp_ : orig_;
  const std::uint8_t flags = p.tcp_flags;
  const bool syn = (flags & net::tcp_flag::kSyn) != 0;
  const bool fin = (flags & net::tcp_flag::kFin) != 0;
  const bool rst = (flags & net::tcp_flag::kRst) != 0;
  const bool ack = (flags & net::tcp_flag::kAck) != 0;
  const std::uint32_t len = p.payload_len;

  // Sequence space: SYN and FIN take one number; a RST's data is not part of the stream.
  std::uint32_t seg_len = len + (syn ? 1 : 0) + (fin ? 1 : 0);
  if (rst) seg_len -= len;
  const std::uint32_t end = p.tcp_seq + seg_len;
  if (!ep.seq_known || (syn && p.tcp_seq != ep.last_syn && ep.state != Endpoint::kReset &&
                        ep.state != Endpoint::kClosed)) {
    // First packet: a partial connection starts at its own sequence number, so it is not a
    // retransmission of itself.
    ep.last_seq = syn ? end : p.tcp_seq;
    ep.seq_known = true;
  }

  update_history(p, ep, from_orig);

  // Zero window, as Zeek: not on or after a RST, nor after the peer closed.
  if (p.tcp_window == 0 && !rst && peer.state != Endpoint::kClosed &&
      ep.state != Endpoint::kReset) {
    scaled(ep.zero_window, ep.zero_window_next, 'W', from_orig);
  }

  const auto delta = static_cast<std::int32_t>(end - ep.last_seq);
  if ((syn || rst) && (delta > kTooLargeSeqDelta || delta < -kTooLargeSeqDelta)) {
    // untrusted sequence number
  } else if (ep.state == Endpoint::kReset) {
    // nothing after a RST is trusted
  } else if (delta > 0) {
    ep.last_seq = end;
  } else if (len > 0) {
    scaled(ep.rxmit, ep.rxmit_next, 'T', from_orig);
  }
  if (!rst) ep.payload += len;

  switch (ep.state) {
    case Endpoint::kInactive:
      if (syn) {
        if (from_orig) {
          ep.set(ack ? Endpoint::kSynAckSent : Endpoint::kSynSent);
        } else {
          if (!ack && peer.state == Endpoint::kSynAckSent) {
            // The originator sent a SYN-ACK and now the responder a SYN: the two were seen in
            // reverse; swap roles and take the connection as established.
            flip = true;
            peer.set(Endpoint::kEstablished);
          }
          if (peer.state == Endpoint::kSynSent) peer.set(Endpoint::kEstablished);
          ep.set(Endpoint::kEstablished);
        }
      }
      if (fin) ep.set(Endpoint::kClosed);
      if (rst) ep.set(Endpoint::kReset);
      if (ep.state == Endpoint::kInactive) {
        if (!from_orig && len == 0 && orig_.state == Endpoint::kSynSent) {
          // Some stacks ACK a SYN before answering it: not yet a partial connection.
        } else if (ack && peer.state == Endpoint::kEstablished) {
          ep.set(Endpoint::kEstablished);  // the missed SYN's handshake completes
        } else {
          ep.set(Endpoint::kPartial);
        }
      }
      break;
    case Endpoint::kSynSent:
    case Endpoint::kSynAckSent:
      if (fin) ep.set(Endpoint::kClosed);
      if (rst) ep.set(Endpoint::kReset);
      break;
    case Endpoint::kEstablished:
    case Endpoint::kPartial:
      if (syn && ep.state == Endpoint::kPartial && peer.state == Endpoint::kInactive && !ack) {
        ep.set(Endpoint::kSynSent);
      }
      if (fin && !rst) {
        ep.set(Endpoint::kClosed);
        // A FIN after the peer's FIN-then-RST: that was a normal close after all.
        if (peer.state == Endpoint::kReset && peer.prev_state == Endpoint::kClosed) {
          peer.set(Endpoint::kClosed);
        }
      }
      if (rst) ep.set(Endpoint::kReset);
      break;
    case Endpoint::kClosed:
      if (rst && peer.state != Endpoint::kClosed) ep.set(Endpoint::kReset);
      break;
    case Endpoint::kReset:
      break;
  }
}

bool Connection::reset() const {
  return orig_.state == Endpoint::kReset || resp_.state == Endpoint::kReset;
}

bool Connection::closed() const {
  if (ip_proto_ != kTcp) return false;
  if (reset()) return true;
  const bool orig_closed = orig_.state == Endpoint::kClosed;
  const bool resp_closed = resp_.state == Endpoint::kClosed;
  if (orig_closed && resp_closed) return true;
  return (orig_closed && resp_.state == Endpoint::kInactive) ||
         (resp_closed && orig_.state == Endpoint::kInactive);
}

ConnState Connection::state(std::uint64_t orig_packets, std::uint64_t resp_packets) const {
  if (ip_proto_ == kUdp) {
    if (orig_packets > 0) return resp_packets > 0 ? ConnState::kSF : ConnState::kS0;
    return resp_packets > 0 ? ConnState::kSHR : ConnState::kOTH;
  }
  if (ip_proto_ != kTcp) return ConnState::kOTH;
  const Endpoint os = orig_.state;
  const Endpoint rs = resp_.state;
  const bool o_inactive = os == Endpoint::kInactive || os == Endpoint::kPartial;
  const bool r_inactive = rs == Endpoint::kInactive || rs == Endpoint::kPartial;
  if (rs == Endpoint::kReset) {
    if (os == Endpoint::kSynSent || os == Endpoint::kSynAckSent ||
        (os == Endpoint::kReset && orig_.payload == 0 && resp_.payload == 0)) {
      return ConnState::kREJ;
    }
    return o_inactive ? ConnState::kRSTRH : ConnState::kRSTR;
  }
  if (os == Endpoint::kReset) {
    if (r_inactive) return syn_then_reset(history_.view()) ? ConnState::kRSTOS0 : ConnState::kOTH;
    return ConnState::kRSTO;
  }
  if (rs == Endpoint::kClosed && os == Endpoint::kClosed) return ConnState::kSF;
  if (os == Endpoint::kClosed) return r_inactive ? ConnState::kSH : ConnState::kS2;
  if (rs == Endpoint::kClosed) return o_inactive ? ConnState::kSHR : ConnState::kS3;
  if (os == Endpoint::kSynSent && rs == Endpoint::kInactive) return ConnState::kS0;
  if (os == Endpoint::kEstablished && rs == Endpoint::kEstablished) return ConnState::kS1;
  return ConnState::kOTH;
}

}  // namespace netsentry::flow
