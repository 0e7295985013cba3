// The HTTP/1.1 server of `herald serve` on Boost.Beast: keep-alive, pipelining-safe (one
// request at a time per connection, in order), header/body/read-buffer limits, a request timeout
// that answers 408, bounded worker lanes for handlers that may block (publish, authorize,
// metrics: one cannot starve another), connection limits, and a stop with a real deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "server/metrics.hpp"
#include "server/rate_limiter.hpp"
#include "server/server_config.hpp"

namespace herald {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Where a request's handler runs. `inline_` handlers are cheap and never block (I/O thread);
// the others run on their own bounded worker lane.
enum class Lane { inline_, publish, authorize, admin };

// What the server serves. `handle` may run concurrently on several threads.
class HttpService {
 public:
  virtual ~HttpService() = default;
  virtual Lane lane(const HttpRequest& request) const = 0;
  virtual HttpResponse handle(const HttpRequest& request, const std::string& remote) = 0;
};

// `tls_cert`/`tls_key` loaded as `herald serve` would (for `herald check`): "" when they load
// and match, else one line naming the path (never the key's contents). "" without TLS.
std::string tls_files_problem(const ServerConfig& config);

// A JSON error reply: {"error":"<message>"}.
HttpResponse json_error(unsigned version, int status, std::string_view message);

// Threads that can be joined with a deadline: the ones still running then (a hung driver call)
// are detached and counted, so a shutdown never waits forever.
class ThreadGroup {
 public:
  ThreadGroup() = default;
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  void start(unsigned count, std::function<void()> body);
  // Joins every thread that ends before `deadline`; returns how many were abandoned.
  std::size_t join_until(std::chrono::steady_clock::time_point deadline);
  bool empty() const noexcept { return threads_.empty(); }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable done;
    unsigned finished = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::vector<std::thread> threads_;
};

class HttpServer {
 public:
  HttpServer(ServerConfig config, HttpService& service, std::shared_ptr<spdlog::logger> logger,
             Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (throws std::system_error with the address in the message), then starts
  // the I/O threads and worker lanes. Returns at once.
  void start();
  // The bound port (useful with port 0).
  std::uint16_t port() const noexcept { return port_; }
  // HTTPS (`tls_cert`/`tls_key` set): re-reads both files and uses them for new connections
  // (existing ones keep theirs). Throws std::runtime_error naming the paths (never the key's
  // contents) and keeps the previous certificate. start() loads them the first time.
  void reload_tls();
  // Stop with a deadline (shutdown_timeout): no new connections or requests (503), idle
  // connections closed, queued and running requests answered (with `Connection: close`) until
  // the deadline; then requests still queued get 503 without running, and threads still inside
  // a handler after a short grace are abandoned. Returns how many threads were abandoned (the
  // caller must then exit without destroying what they use). Call once, from a thread that is
  // not the server's own; later calls return 0.
  std::size_t stop();

  class Session;     // one connection
  class WorkerLane;  // one bounded queue and its threads

 private:
  friend class Session;
  void accept();
  void accept_failed(const boost::system::error_code& ec);
  // Under sessions_mutex_: whether one more connection from `ip` is allowed; counts it if so.
  bool admit(const std::string& ip, Metrics::Shed& why);
  void track(const std::shared_ptr<Session>& session);
  void forget(const std::string& ip);
  WorkerLane* lane(Lane lane) const;
  std::shared_ptr<boost::asio::ssl::context> tls_context();
  // At most one line per second per kind: `text` plus how many were suppressed meanwhile.
  void log_limited(std::chrono::steady_clock::time_point& last, std::size_t& suppressed,
                   const std::string& text);

  ServerConfig config_;
  HttpService& service_;
  std::shared_ptr<spdlog::logger> logger_;
  Metrics& metrics_;

  // Declared before io_: sessions still queued in io_ are destroyed with it and unregister here.
  std::mutex sessions_mutex_;
  std::condition_variable sessions_gone_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::size_t live_sessions_ = 0;                // guarded by sessions_mutex_
  std::map<std::string, std::size_t> per_ip_;    // guarded by sessions_mutex_; live entries only

  // Lanes before io_: destroyed after it, so no queued session outlives its lane.
  std::unique_ptr<WorkerLane> publish_lane_, authorize_lane_, admin_lane_;
  RateLimiter authorize_rate_, unauthorized_rate_;  // per client address

  boost::asio::io_context io_;
  // Keeps the I/O threads running while a request is only on a worker lane (no I/O pending).
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  // The acceptor, its back-off timer and the accept log state are only touched on this strand.
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_{0};
  std::chrono::steady_clock::time_point accept_log_at_{}, refuse_log_at_{};
  std::size_t accept_suppressed_ = 0, refuse_suppressed_ = 0;

  // HTTPS: the context new sessions take (each keeps a reference to its own). Swapped by
  // reload_tls() from the signal thread, read on the accept strand.
  std::mutex tls_mutex_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;

  ThreadGroup threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace herald
