// The HTTP/1.1 server of `herald serve` on Boost.Beast: keep-alive, pipelining-safe (one
// request at a time per connection, in order), header/body limits, a request timeout that
// answers 408, a worker pool for handlers that may block, and a graceful stop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "server/metrics.hpp"
#include "server/server_config.hpp"

namespace herald {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// What the server serves. `handle` may run concurrently on several threads.
class HttpService {
 public:
  virtual ~HttpService() = default;
  // False: `handle` is cheap and never blocks, so it runs on the I/O thread.
  virtual bool may_block(const HttpRequest& request) const = 0;
  virtual HttpResponse handle(const HttpRequest& request, const std::string& remote) = 0;
};

// A JSON error reply: {"error":"<message>"}.
HttpResponse json_error(unsigned version, int status, std::string_view message);

class HttpServer {
 public:
  HttpServer(ServerConfig config, HttpService& service, std::shared_ptr<spdlog::logger> logger,
             Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (throws std::system_error with the address in the message), then starts
  // the I/O threads. Returns at once.
  void start();
  // The bound port (useful with port 0).
  std::uint16_t port() const noexcept { return port_; }
  // Graceful stop: no new connections, idle ones closed, in-flight requests answered (with
  // `Connection: close`) until shutdown_timeout, then everything closed and every thread
  // joined. Safe to call from any thread except the server's own, and more than once.
  void stop();

  class Session;  // one connection

 private:
  friend class Session;
  void accept();
  void track(const std::shared_ptr<Session>& session);

  ServerConfig config_;
  HttpService& service_;
  std::shared_ptr<spdlog::logger> logger_;
  Metrics& metrics_;

  // Declared before io_: sessions still queued in io_ are destroyed with it and unregister here.
  std::mutex sessions_mutex_;
  std::condition_variable sessions_gone_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::size_t live_sessions_ = 0;  // guarded by sessions_mutex_

  boost::asio::io_context io_;
  // Keeps the I/O threads running while a request is only on the worker pool (no I/O pending).
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::thread_pool> workers_;  // null: handlers run inline
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
};

}  // namespace herald
