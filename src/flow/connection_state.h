// Provides flow::Connection, the per-flow connection state that Zeek's conn.log reports: TCP
// endpoint states (inactive, SYN sent, SYN-ACK sent, partial, established, closed, reset) updated
// by Zeek's rules, the history string (S H A D F R I Q T W ^ and their lower-case responder forms)
// and the conn_state summary (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH); and the
// initiator rules for a flow whose first packet is not the client's (likely server ports, as
// Zeek's likely_server_ports). Not computed: content gaps (G) and bad checksums (C), which need
// payload reassembly and checksum validation.
// Thread rules: plain values; owned by the flow table's thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "net/packet.h"

namespace netsentry::flow {

enum class ConnState : std::uint8_t {
  kS0,      // connection attempt seen, no reply
  kS1,      // established, not terminated
  kSF,      // normal establishment and termination
  kREJ,     // attempt rejected
  kS2,      // established, close attempt by the originator only
  kS3,      // established, close attempt by the responder only
  kRSTO,    // established, the originator aborted (RST)
  kRSTR,    // the responder sent a RST
  kRSTOS0,  // the originator sent a SYN then a RST, no SYN-ACK seen
  kRSTRH,   // the responder sent a SYN-ACK then a RST, no SYN seen
  kSH,      // the originator sent a SYN then a FIN, no SYN-ACK seen
  kSHR,     // the responder sent a SYN-ACK then a FIN, no SYN seen
  kOTH,     // no SYN seen, just midstream traffic (and every non-TCP/UDP flow)
  kCount
};
[[nodiscard]] std::string_view conn_state_name(ConnState state);

// Zeek's history letters, bounded (a longer history is cut, as Zeek's repeated letters are
// scaled: T and W appear at the 1st, 10th, 100th, ... occurrence).
struct History {
  static constexpr std::size_t kCapacity = 23;
  std::array<char, kCapacity> text{};
  std::uint8_t size = 0;

  void push(char c) {
    if (size < kCapacity) text[size++] = c;
  }
  [[nodiscard]] std::string_view view() const { return {text.data(), size}; }
};

// True when `port` is one Zeek's likely_server_ports holds for `ip_proto` (6 or 17).
[[nodiscard]] bool is_likely_server_port(std::uint8_t ip_proto, std::uint16_t port);

// Whether the flow started by `first` should have its destination as the initiator (Zeek's
// rules: a TCP packet without SYN, or a SYN-ACK, from a likely server port; a UDP packet from a
// likely server port to a port that is not one, unless sent to a broadcast/multicast address).
[[nodiscard]] bool initiator_is_destination(const net::Packet& first);

class Connection {
 public:
  // A new flow; `flipped` when the initiator is the first packet's destination.
  void start(std::uint8_t ip_proto, bool flipped);
  // Accounts one packet of the flow. Returns true when the roles must flip (a SYN answering a
  // SYN-ACK seen first: Zeek's SYN/SYN-ACK reversal); the caller swaps its direction view and
  // calls flip().
  [[nodiscard]] bool add(const net::Packet& packet, bool from_originator);
  void flip();

  // TCP: closed by both FINs, by a RST, or by a FIN with the other side never heard from. The
  // flow then lingers (remnants belong to it) and ends.
  [[nodiscard]] bool closed() const;
  [[nodiscard]] bool reset() const;
  // conn_state as Zeek computes it; `orig_packets`/`resp_packets` for UDP activity.
  [[nodiscard]] ConnState state(std::uint64_t orig_packets, std::uint64_t resp_packets) const;
  [[nodiscard]] const History& history() const { return history_; }

 private:
  enum class Endpoint : std::uint8_t {
    kInactive,
    kSynSent,
    kSynAckSent,
    kPartial,
    kEstablished,
    kClosed,
    kReset,
  };
  struct Side {
    Endpoint state = Endpoint::kInactive;
    Endpoint prev_state = Endpoint::kInactive;
    std::uint8_t seen = 0;  // history letters already given (bits)
    bool seq_known = false;
    std::uint32_t last_seq = 0;  // one past the highest sequence number sent
    std::uint32_t last_syn = 0;
    std::uint32_t last_fin = 0;
    std::uint32_t last_rst = 0;
    std::uint32_t rxmit = 0;
    std::uint32_t rxmit_next = 1;
    std::uint32_t zero_window = 0;
    std::uint32_t zero_window_next = 1;
    std::uint64_t payload = 0;

    void set(Endpoint s) {
      prev_state = state;
      state = s;
    }
  };

  void add_tcp(const net::Packet& packet, bool from_orig, bool& flip);
  void update_history(const net::Packet& packet, Side& side, bool from_orig);
  // Adds `letter` (upper case; lower case for the responder) unless `bit` was seen; returns
  // whether it had been seen before.
  bool check_history(Side& side, std::uint8_t bit, char letter, bool from_orig);
  void add_letter(char letter, bool from_orig);
  void scaled(std::uint32_t& count, std::uint32_t& next, char letter, bool from_orig);

  Side orig_;
  Side resp_;
  History history_;
  std::uint8_t ip_proto_ = 0;
};

}  // namespace netsentry::flow
