#include "netflow/udp_receiver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace netsentry::netflow {

UdpReceiver::UdpReceiver(const std::string& listen) : buffer_(65536) {
  std::string text = listen;
  if (text.starts_with("udp:")) text = text.substr(4);
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    throw core::Error("--listen " + listen + ": expected udp:HOST:PORT, e.g. udp:0.0.0.0:2055");
  }
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw core::Error("--listen " + listen + ": " + gai_strerror(rc));
  }
  std::string why;
  for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int size = 8 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0) throw core::Error("--listen " + listen + ": cannot bind: " + why);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  address_ = "udp:" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
             std::to_string(port_);
}

UdpReceiver::~UdpReceiver() {
  if (fd_ >= 0) ::close(fd_);
}

std::span<const std::uint8_t> UdpReceiver::receive(std::chrono::milliseconds timeout,
                                                   std::string& sender) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  const ssize_t n = ::recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) return {};
  char host[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (from.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<sockaddr_in6*>(&from);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else {
    const auto* a = reinterpret_cast<sockaddr_in*>(&from);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  }
  sender = std::string(host) + ":" + std::to_string(port);
  return {buffer_.data(), static_cast<std::size_t>(n)};
}

}  // namespace netsentry::netflow
