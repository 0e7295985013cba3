// A blocking HTTP/1.1 client and a small threaded HTTP server for tests and benchmarks, both on
// Boost.Beast and loopback only. The server stands in for peers (Centrifugo's API, a webhook, an
// HTTP sink): each request goes to a handler, which may answer slowly to exercise timeouts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace herald::testing_support {

namespace http = boost::beast::http;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpReply {
  int status = 0;
  Headers headers;  // as received
  std::string body;

  // First header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (boost::beast::iequals(n, name)) return v;
    return {};
  }
};

// One request on a fresh connection. Throws boost::system::system_error when the server cannot
// be reached or closes without answering.
inline HttpReply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                              std::string_view body = {}, const Headers& headers = {},
                              std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), port));
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.method_string(method);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.set(name, value);
    has_content_type = has_content_type || boost::beast::iequals(name, "content-type");
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  http::read(stream, buffer, parser);
  HttpReply reply;
  const auto& res = parser.get();
  reply.status = static_cast<int>(res.result_int());
  for (const auto& field : res) reply.headers.emplace_back(field.name_string(), field.value());
  reply.body = res.body();
  boost::system::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return reply;
}

struct TestRequest {
  std::string method;
  std::string target;  // path and query as sent
  Headers headers;
  std::string body;

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (boost::beast::iequals(n, name)) return v;
    return {};
  }
};

struct TestResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  Headers headers;
  std::chrono::milliseconds delay{0};  // wait this long before answering
};

// Serves on 127.0.0.1:<free port>, one thread per connection, keep-alive. Every request is
// recorded. Stops (closing every connection) when destroyed.
class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  explicit TestHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestHttpServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    {
      // Closing the acceptor does not wake a blocking accept(); a connection to it does.
      boost::asio::ip::tcp::socket wake(io_);
      wake.connect({boost::asio::ip::address_v4::loopback(), port_}, ignored);
      if (accept_thread_.joinable()) accept_thread_.join();
    }
    acceptor_.close(ignored);
    {
      std::lock_guard lock(mutex_);
      for (auto& socket : sockets_) socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    }
    for (auto& t : connection_threads_) t.join();
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<TestRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  size_t request_count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  // Connections accepted so far (keep-alive tests).
  size_t connection_count() const { return connections_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      sockets_.push_back(std::move(socket));
      boost::asio::ip::tcp::socket& s = sockets_.back();
      connection_threads_.emplace_back([this, &s] { serve(s); });
    }
  }

  void serve(boost::asio::ip::tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      http::read(socket, buffer, parser, ec);
      if (ec) return;
      const auto& req = parser.get();
      TestRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) request.headers.emplace_back(field.name_string(), field.value());
      request.body = req.body();
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      TestResponse response = handler_(request);
      if (response.delay.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + response.delay;
        while (!stopping_ && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (stopping_) return;
      http::response<http::string_body> res(static_cast<http::status>(response.status), 11);
      res.set(http::field::content_type, response.content_type);
      for (const auto& [name, value] : response.headers) res.set(name, value);
      // 1xx, 204 and 304 carry no body (Beast refuses one).
      if (response.status >= 200 && response.status != 204 && response.status != 304)
        res.body() = std::move(response.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_{0};
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::list<boost::asio::ip::tcp::socket> sockets_;  // list: stable addresses for the threads
  std::list<std::thread> connection_threads_;
  std::vector<TestRequest> requests_;
};

}  // namespace herald::testing_support
