#include "host/proc_sockets.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

#include "host/proc_file.h"

namespace netsentry::host {
namespace {

template <typename T>
bool parse_number(std::string_view token, T& value, int base) {
  const auto* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value, base);
  return !token.empty() && ec == std::errc() && ptr == end;
}

// The kernel prints each 32-bit word of the address with %08X on the host's (little-endian) value,
// so every group of 8 hex digits holds its 4 network-order bytes reversed. Word order is kept.
bool parse_endpoint(std::string_view token, Endpoint& endpoint) {
  const auto colon = token.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view hex = token.substr(0, colon);
  if (hex.size() == 8) {
    endpoint.ip.family = AddressFamily::kIpv4;
  } else if (hex.size() == 32) {
    endpoint.ip.family = AddressFamily::kIpv6;
  } else {
    return false;
  }
  endpoint.ip.bytes = {};
  for (std::size_t word = 0; word < hex.size() / 8; ++word) {
    std::uint32_t value = 0;
    if (!parse_number(hex.substr(word * 8, 8), value, 16)) return false;
    for (std::size_t i = 0; i < 4; ++i) {
      endpoint.ip.bytes[word * 4 + i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
  }
  return parse_number(token.substr(colon + 1), endpoint.port, 16);
}

}  // namespace

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == AddressFamily::kIpv4 ? AF_INET : AF_INET6;
  if (::inet_ntop(af, bytes.data(), text, sizeof text) == nullptr) return {};
  return text;
}

std::string_view state_name(SocketState state) {
  switch (state) {
    case SocketState::kNone:
      return "NONE";
    case SocketState::kEstablished:
      return "ESTABLISHED";
    case SocketState::kSynSent:
      return "SYN_SENT";
    case SocketState::kSynRecv:
      return "SYN_RECV";
    case SocketState::kFinWait1:
      return "FIN_WAIT1";
    case SocketState::kFinWait2:
      return "FIN_WAIT2";
    case SocketState::kTimeWait:
      return "TIME_WAIT";
    case SocketState::kClose:
      return "CLOSE";
    case SocketState::kCloseWait:
      return "CLOSE_WAIT";
    case SocketState::kLastAck:
      return "LAST_ACK";
    case SocketState::kListen:
      return "LISTEN";
    case SocketState::kClosing:
      return "CLOSING";
  }
  return "NONE";
}

std::string_view socket_type_name(Transport transport) {
  return transport == Transport::kTcp ? "SOCK_STREAM" : "SOCK_DGRAM";
}

std::size_t parse_proc_sockets(std::string_view text, Transport transport,
                               std::vector<SocketEntry>& out) {
  std::size_t malformed = 0;
  while (!text.empty()) {
    const auto eol = std::min(text.find('\n'), text.size());
    std::string_view rest = text.substr(0, eol);
    text.remove_prefix(eol == text.size() ? eol : eol + 1);

    // Columns: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    std::string_view tokens[10];
    std::size_t count = 0;
    while (count < std::size(tokens) && next_token(rest, tokens[count])) ++count;
    if (count == 0 || tokens[0] == "sl") continue;  // blank line or the header

    SocketEntry entry;
    entry.transport = transport;
    unsigned state = 0;
    const bool ok =
        count == std::size(tokens) && tokens[0].back() == ':' &&
        parse_endpoint(tokens[1], entry.local) && parse_endpoint(tokens[2], entry.remote) &&
        entry.local.ip.family == entry.remote.ip.family && parse_number(tokens[3], state, 16) &&
        state <= 0xff && parse_number(tokens[7], entry.uid, 10) &&
        parse_number(tokens[9], entry.inode, 10);
    if (!ok) {
      ++malformed;
      continue;
    }
    if (transport == Transport::kUdp) {
      entry.state = SocketState::kNone;
    } else if (state >= 1 && state <= static_cast<unsigned>(SocketState::kClosing)) {
      entry.state = static_cast<SocketState>(state);
    } else {
      // TCP_NEW_SYN_RECV (12) and anything newer are not in psutil's table either.
      entry.state = SocketState::kNone;
    }
    out.push_back(entry);
  }
  return malformed;
}

}  // namespace netsentry::host
