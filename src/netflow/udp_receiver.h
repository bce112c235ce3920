// Provides netflow::UdpReceiver, the collector's socket: binds HOST:PORT (IPv4 or IPv6) and hands
// out one datagram at a time with its sender's address, waiting at most a timeout so the caller
// can stop. The receive buffer is enlarged (exporters send in bursts).
// Thread rules: one thread uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace netsentry::netflow {

class UdpReceiver final {
 public:
  // `listen` is "udp:HOST:PORT", "HOST:PORT" or "[v6]:PORT"; port 0 picks a free one. Throws
  // core::Error when it cannot be parsed or bound.
  explicit UdpReceiver(const std::string& listen);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  // The next datagram (empty on timeout); `sender` gets "ADDRESS:PORT".
  [[nodiscard]] std::span<const std::uint8_t> receive(std::chrono::milliseconds timeout,
                                                      std::string& sender);
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& address() const { return address_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::string address_;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace netsentry::netflow
