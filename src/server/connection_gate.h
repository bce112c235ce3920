// Provides server::ConnectionGate, what stands between accepted sockets and cpp-httplib's request
// handling (0.11.4 bounds a request's size only for Content-Length bodies and its time only per
// read, so a client trickling a byte every 3 s holds a worker thread for ever, and a chunked body
// grows without limit):
//   * one thread waits (poll) on every connection until its request head is complete, so slow or
//     idle clients never hold a worker: the head must arrive within header_timeout of its first
//     byte and the next request within idle_timeout; larger heads get 414/431;
//   * a client address may have max_waiting_per_ip such connections: one more closes that
//     address's oldest (a client flooding slow connections cannot lock out its own new requests,
//     nor anyone else's); max_waiting bounds them all, max_connections_per_ip every connection;
//   * complete requests go to a fixed pool of workers; a request's bytes (head, body in any
//     transfer encoding, framing) are capped by max_request_bytes and its time by request_timeout,
//     past which the connection is closed;
//   * keep-alive connections go back to the waiting thread between requests; TCP_NODELAY is set
//     (Nagle's algorithm against delayed ACKs cost ~40 ms per response on a reused connection).
// Thread rules: start()/stop() from the owner; accept() from httplib's listen thread; the handler
// runs on pool threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Stream;
}  // namespace httplib

namespace netsentry::server {

struct GateOptions {
  std::size_t worker_threads = 72;
  std::chrono::milliseconds idle_timeout{5000};      // no byte of the next request
  std::chrono::milliseconds header_timeout{10000};   // first byte -> complete request head
  std::chrono::milliseconds request_timeout{10000};  // head complete -> body read
  std::chrono::milliseconds write_timeout{5000};
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_request_bytes = 64 * 1024;  // head + body + chunk framing
  std::size_t max_waiting = 512;
  std::size_t max_waiting_per_ip = 16;
  std::size_t max_connections_per_ip = 256;
  // Every open connection (waiting, ready for a worker, or served): bounds file descriptors and
  // the ready queue whatever the number of client addresses.
  std::size_t max_connections = 1024;
  std::size_t max_requests_per_connection = 100;
};

struct GateCounters {
  std::uint64_t accepted = 0;
  std::uint64_t timed_out = 0;  // idle or slow head, closed while waiting
  std::uint64_t evicted = 0;    // closed for a newer connection of the same address / the cap
  std::uint64_t refused = 0;    // over max_connections_per_ip
  std::uint64_t too_large = 0;  // head over max_header_bytes or request over max_request_bytes
  std::uint64_t waiting = 0;    // now
};

class ConnectionGate final {
 public:
  struct Connection;
  // Serves one complete request on `stream`; returns false when the connection must close.
  // `close` asks for "Connection: close" (last request of this connection, or stopping).
  using Handler = std::function<bool(httplib::Stream& stream, bool close, bool& closed)>;

  ConnectionGate(GateOptions options, Handler handler);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  void start();
  // Closes every waiting connection, lets running requests finish and joins every thread.
  void stop();
  // Takes ownership of an accepted socket. Never blocks.
  void accept(int fd);

  [[nodiscard]] GateCounters counters() const;

 private:
  void wait_loop();
  void work_loop();
  void serve(std::unique_ptr<Connection> connection);
  void to_waiting(std::unique_ptr<Connection> connection);
  void close_connection(std::unique_ptr<Connection> connection);
  void wake();

  const GateOptions options_;
  Handler handler_;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;  // guards inbox_, ready_, per_ip_, and the pool's condition
  std::condition_variable work_ready_;
  std::vector<std::unique_ptr<Connection>> inbox_;  // accepted or back from a worker
  std::deque<std::unique_ptr<Connection>> ready_;   // complete heads waiting for a worker
  std::map<std::string, std::size_t> per_ip_;       // open connections by client address
  std::size_t open_ = 0;                            // open connections in all

  std::thread waiter_;
  std::vector<std::thread> workers_;

  std::atomic<std::uint64_t> accepted_{0}, timed_out_{0}, evicted_{0}, refused_{0}, too_large_{0},
      waiting_{0};
};

}  // namespace netsentry::server
