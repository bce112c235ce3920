#include "server/connection_gate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "server/http_lib.h"

namespace netsentry::server {

using Clock = std::chrono::steady_clock;

struct ConnectionGate::Connection {
  int fd = -1;
  std::string ip;
  int port = 0;
  std::string local_ip;
  int local_port = 0;
  std::string buffer;  // received and not yet consumed from `consumed` on
  std::size_t consumed = 0;
  Clock::time_point since;         // waiting for the next request since
  Clock::time_point first_byte{};  // of the request head being received (epoch: none yet)
  std::size_t served = 0;
};

namespace {

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

int millis_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
}

// Best effort, never blocks: a short answer for a client we are about to close.
void send_status(int fd, std::string_view status) {
  const std::string text =
      "HTTP/1.1 " + std::string(status) + "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  [[maybe_unused]] const ssize_t n =
      ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

enum class Head { kIncomplete, kComplete, kUriTooLong, kTooLarge };

Head head_state(const std::string& buffer, std::size_t from, std::size_t limit) {
  const std::string_view data = std::string_view(buffer).substr(from);
  const std::size_t end = data.find("\r\n\r\n");
  const std::size_t bare = data.find("\n\n");
  const std::size_t found = std::min(end, bare);
  if (found != std::string_view::npos && found < limit) return Head::kComplete;
  if (data.size() < limit) return Head::kIncomplete;
  return data.substr(0, limit).find('\n') == std::string_view::npos ? Head::kUriTooLong
                                                                    : Head::kTooLarge;
}

// The stream cpp-httplib reads a request from and writes its response to: bytes the waiting
// thread already received come first; the request's bytes and time are capped.
class GateStream final : public httplib::Stream {
 public:
  GateStream(ConnectionGate::Connection& c, const GateOptions& o) : c_(c), o_(o) {}

  void begin_request() {
    used_ = 0;
    deadline_ = Clock::now() + o_.request_timeout;
  }
  [[nodiscard]] bool broken() const { return broken_; }
  [[nodiscard]] bool over_budget() const { return over_budget_; }

  bool is_readable() const override {
    if (c_.consumed < c_.buffer.size()) return true;
    pollfd p{c_.fd, POLLIN, 0};
    return ::poll(&p, 1, millis_until(deadline_)) > 0;
  }
  // Also false once the client has gone (an event stream learns it here, not only when its next
  // write fails): a readable socket with nothing to peek is closed.
  bool is_writable() const override {
    pollfd p{c_.fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(o_.write_timeout.count())) <= 0 ||
        (p.revents & (POLLERR | POLLHUP)) != 0) {
      return false;
    }
    if (c_.consumed < c_.buffer.size()) return true;
    pollfd r{c_.fd, POLLIN, 0};
    if (::poll(&r, 1, 0) <= 0) return true;
    char byte = 0;
    return ::recv(c_.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (used_ >= o_.max_request_bytes) {
      // A body past the limit in any transfer encoding (chunked too): stop reading it.
      over_budget_ = broken_ = true;
      return -1;
    }
    size = std::min(size, o_.max_request_bytes - used_);
    if (c_.consumed >= c_.buffer.size()) {
      c_.buffer.clear();
      c_.consumed = 0;
      char chunk[16 * 1024];
      for (;;) {
        const int wait = millis_until(deadline_);
        if (wait <= 0) {
          broken_ = true;
          return -1;
        }
        pollfd p{c_.fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, wait);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;  // the deadline check above ends it
        const ssize_t n = ::recv(c_.fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
          c_.buffer.assign(chunk, static_cast<std::size_t>(n));
          break;
        }
        if (n == 0) return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        broken_ = true;
        return -1;
      }
    }
    const std::size_t n = std::min(size, c_.buffer.size() - c_.consumed);
    std::memcpy(ptr, c_.buffer.data() + c_.consumed, n);
    c_.consumed += n;
    used_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{c_.fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(o_.write_timeout.count())) > 0) continue;
      }
      broken_ = true;
      return -1;
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.ip;
    port = c_.port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local_ip;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }

 private:
  ConnectionGate::Connection& c_;
  const GateOptions& o_;
  std::size_t used_ = 0;
  Clock::time_point deadline_;
  bool broken_ = false;
  bool over_budget_ = false;
};

}  // namespace

ConnectionGate::ConnectionGate(GateOptions options, Handler handler)
    : options_(options), handler_(std::move(handler)) {}

ConnectionGate::~ConnectionGate() {
  stop();
  for (const int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void ConnectionGate::start() {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) wake_pipe_[0] = wake_pipe_[1] = -1;
  waiter_ = std::thread([this] { wait_loop(); });
  for (std::size_t i = 0; i < options_.worker_threads; ++i) {
    workers_.emplace_back([this] { work_loop(); });
  }
}

void ConnectionGate::stop() {
  if (stopping_.exchange(true)) return;
  wake();
  if (waiter_.joinable()) waiter_.join();
  work_ready_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  std::deque<std::unique_ptr<Connection>> left;
  std::vector<std::unique_ptr<Connection>> inbox;
  {
    std::lock_guard lock(mutex_);
    left.swap(ready_);
    inbox.swap(inbox_);
  }
  for (auto& c : left) close_connection(std::move(c));
  for (auto& c : inbox) close_connection(std::move(c));
}

void ConnectionGate::wake() {
  if (wake_pipe_[1] < 0) return;
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_pipe_[1], &byte, 1);
}

void ConnectionGate::accept(int fd) {
  ++accepted_;
  auto c = std::make_unique<Connection>();
  c->fd = fd;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    address_of(addr, c->ip, c->port);
  }
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    address_of(addr, c->local_ip, c->local_port);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  const int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  c->since = Clock::now();
  {
    std::lock_guard lock(mutex_);
    std::size_t& open = per_ip_[c->ip];
    if (stopping_ || open >= options_.max_connections_per_ip || open_ >= options_.max_connections) {
      if (open == 0) per_ip_.erase(c->ip);
      ++refused_;
      send_status(fd, "503 Service Unavailable");
      ::close(fd);
      return;
    }
    ++open;
    ++open_;
    inbox_.push_back(std::move(c));
  }
  wake();
}

void ConnectionGate::close_connection(std::unique_ptr<Connection> c) {
  if (!c) return;
  ::shutdown(c->fd, SHUT_RDWR);
  ::close(c->fd);
  std::lock_guard lock(mutex_);
  --open_;
  if (const auto it = per_ip_.find(c->ip); it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
}

void ConnectionGate::to_waiting(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      inbox_.push_back(std::move(c));
      c = nullptr;
    }
  }
  if (c) {
    close_connection(std::move(c));
    return;
  }
  wake();
}

void ConnectionGate::wait_loop() {
  std::vector<std::unique_ptr<Connection>> waiting;
  std::vector<pollfd> fds;
  const auto drop = [&](std::size_t i, std::atomic<std::uint64_t>& counter) {
    ++counter;
    close_connection(std::move(waiting[i]));
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
  };
  while (!stopping_) {
    std::vector<std::unique_ptr<Connection>> arrived;
    {
      std::lock_guard lock(mutex_);
      arrived.swap(inbox_);
    }
    std::vector<std::unique_ptr<Connection>> complete;
    for (auto& c : arrived) {
      if (head_state(c->buffer, c->consumed, options_.max_header_bytes) == Head::kComplete) {
        complete.push_back(std::move(c));
        continue;
      }
      // An address with too many waiting connections loses its oldest; so does everyone at
      // the global cap. The newest connection is the one most likely to be a real request.
      std::size_t same = 0;
      std::size_t oldest_same = waiting.size();
      for (std::size_t i = 0; i < waiting.size(); ++i) {
        if (waiting[i]->ip != c->ip) continue;
        ++same;
        if (oldest_same == waiting.size() || waiting[i]->since < waiting[oldest_same]->since) {
          oldest_same = i;
        }
      }
      if (same >= options_.max_waiting_per_ip && oldest_same < waiting.size()) {
        drop(oldest_same, evicted_);
      } else if (waiting.size() >= options_.max_waiting && !waiting.empty()) {
        const auto oldest =
            std::min_element(waiting.begin(), waiting.end(),
                             [](const auto& a, const auto& b) { return a->since < b->since; });
        drop(static_cast<std::size_t>(oldest - waiting.begin()), evicted_);
      }
      waiting.push_back(std::move(c));
    }

    fds.assign(1, pollfd{wake_pipe_[0], POLLIN, 0});
    Clock::time_point next = Clock::now() + std::chrono::seconds(1);
    for (const auto& c : waiting) {
      fds.push_back(pollfd{c->fd, POLLIN, 0});
      const auto deadline = c->first_byte == Clock::time_point{}
                                ? c->since + options_.idle_timeout
                                : c->first_byte + options_.header_timeout;
      next = std::min(next, deadline);
    }
    waiting_ = waiting.size();
    if (complete.empty()) {
      ::poll(fds.data(), fds.size(), std::max(1, millis_until(next)));
    }
    if (fds[0].revents & POLLIN) {
      char drain[256];
      while (::read(wake_pipe_[0], drain, sizeof drain) > 0) {
      }
    }
    const auto now = Clock::now();
    // Back to front so that erasing keeps the indices of fds and waiting aligned.
    for (std::size_t i = waiting.size(); i-- > 0;) {
      Connection& c = *waiting[i];
      if (fds[i + 1].revents != 0) {
        bool closed = false;
        char chunk[4096];
        for (;;) {
          const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
          if (n > 0) {
            if (c.first_byte == Clock::time_point{}) c.first_byte = now;
            c.buffer.append(chunk, static_cast<std::size_t>(n));
            if (c.buffer.size() - c.consumed > options_.max_header_bytes) break;
            continue;
          }
          if (n < 0 && errno == EINTR) continue;
          closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
          break;
        }
        const Head head = head_state(c.buffer, c.consumed, options_.max_header_bytes);
        if (head == Head::kComplete) {
          complete.push_back(std::move(waiting[i]));
          waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
        if (head == Head::kUriTooLong || head == Head::kTooLarge) {
          send_status(c.fd, head == Head::kUriTooLong ? "414 URI Too Long"
                                                      : "431 Request Header Fields Too Large");
          drop(i, too_large_);
          continue;
        }
        if (closed) {
          close_connection(std::move(waiting[i]));
          waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
      }
      const bool idle = c.first_byte == Clock::time_point{};
      if (idle ? now >= c.since + options_.idle_timeout
               : now >= c.first_byte + options_.header_timeout) {
        if (!idle) send_status(c.fd, "408 Request Timeout");
        drop(i, timed_out_);
      }
    }
    if (!complete.empty()) {
      {
        std::lock_guard lock(mutex_);
        for (auto& c : complete) ready_.push_back(std::move(c));
      }
      work_ready_.notify_all();
    }
  }
  for (auto& c : waiting) close_connection(std::move(c));
  waiting_ = 0;
}

void ConnectionGate::work_loop() {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return !ready_.empty() || stopping_; });
      if (stopping_) return;
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(std::move(c));
  }
}

void ConnectionGate::serve(std::unique_ptr<Connection> c) {
  GateStream stream(*c, options_);
  for (;;) {
    stream.begin_request();
    bool closed = false;
    const bool last = ++c->served >= options_.max_requests_per_connection || stopping_;
    const bool ok = handler_(stream, last, closed);
    if (stream.over_budget()) ++too_large_;
    if (!ok || closed || last || stream.broken() || stopping_) {
      close_connection(std::move(c));
      return;
    }
    if (head_state(c->buffer, c->consumed, options_.max_header_bytes) == Head::kComplete) continue;
    // Between requests a connection costs no worker: back to the waiting thread.
    c->buffer.erase(0, c->consumed);
    c->consumed = 0;
    c->since = Clock::now();
    c->first_byte = c->buffer.empty() ? Clock::time_point{} : c->since;
    to_waiting(std::move(c));
    return;
  }
}

GateCounters ConnectionGate::counters() const {
  return {accepted_.load(), timed_out_.load(), evicted_.load(),
          refused_.load(),  too_large_.load(), waiting_.load()};
}

}  // namespace netsentry::server
