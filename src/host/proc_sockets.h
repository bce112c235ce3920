// Provides the socket tables of /proc/net/{tcp,tcp6,udp,udp6} as values: addresses decoded the way
// psutil decodes them (IPv4 as one little-endian word, IPv6 as four little-endian words in order),
// TCP state names as psutil prints them, and parse_proc_sockets, a pure function on file text.
// Malformed lines are counted and skipped, never thrown.
// Thread rules: free functions and plain values; safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::host {

enum class AddressFamily : std::uint8_t { kIpv4, kIpv6 };

struct IpAddress {
  AddressFamily family = AddressFamily::kIpv4;
  // Network byte order; IPv4 uses the first 4 bytes, the rest stay zero.
  std::array<std::uint8_t, 16> bytes{};

  // "127.0.0.1", "::1", "::ffff:10.0.0.1" (inet_ntop, as psutil uses).
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
  IpAddress ip;
  std::uint16_t port = 0;

  // psutil reports an address with port 0 as an empty tuple (a listening or unbound socket has no
  // remote end); writers print such an endpoint as empty fields.
  [[nodiscard]] bool empty() const { return port == 0; }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

enum class Transport : std::uint8_t { kTcp, kUdp };

// Values are the kernel's TCP state numbers; kNone is what psutil reports for UDP.
enum class SocketState : std::uint8_t {
  kNone = 0,
  kEstablished = 1,
  kSynSent = 2,
  kSynRecv = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
};

// "ESTABLISHED", "SYN_SENT", ..., "LISTEN", "CLOSING", "NONE".
[[nodiscard]] std::string_view state_name(SocketState state);
// "SOCK_STREAM" for TCP, "SOCK_DGRAM" for UDP (psutil's SocketKind names).
[[nodiscard]] std::string_view socket_type_name(Transport transport);

struct SocketEntry {
  Transport transport = Transport::kTcp;
  Endpoint local;
  Endpoint remote;
  SocketState state = SocketState::kNone;
  std::uint32_t uid = 0;
  // 0 for sockets no process owns any more (TIME_WAIT).
  std::uint64_t inode = 0;
};

// Appends the sockets of one /proc/net/{tcp,tcp6,udp,udp6} file to `out`; the address family comes
// from the width of the hex address. Returns the number of malformed lines skipped.
std::size_t parse_proc_sockets(std::string_view text, Transport transport,
                               std::vector<SocketEntry>& out);

}  // namespace netsentry::host
