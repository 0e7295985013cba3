#include "http_test.hpp"

#include <atomic>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace herald::testing_support {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool iequals(std::string_view a, std::string_view b) noexcept { return beast::iequals(a, b); }

std::string find_header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

HttpReply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                       std::string_view body, const Headers& headers,
                       std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port));
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.method_string(method);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.set(name, value);
    has_content_type = has_content_type || iequals(name, "content-type");
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
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
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return reply;
}

struct TestHttpServer::Impl {
  explicit Impl(Handler h)
      : handler(std::move(h)),
        acceptor(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    port = acceptor.local_endpoint().port();
    accept_thread = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    stopping = true;
    boost::system::error_code ignored;
    {
      // Closing the acceptor does not wake a blocking accept(); a connection to it does.
      asio::ip::tcp::socket wake(io);
      wake.connect({asio::ip::address_v4::loopback(), port}, ignored);
      if (accept_thread.joinable()) accept_thread.join();
    }
    acceptor.close(ignored);
    {
      std::lock_guard lock(mutex);
      for (auto& socket : sockets) socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    }
    for (auto& t : connection_threads) t.join();
  }

  void accept_loop() {
    while (!stopping) {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(io);
      acceptor.accept(socket, ec);
      if (stopping) return;
      if (ec) continue;
      ++connections;
      std::lock_guard lock(mutex);
      sockets.push_back(std::move(socket));
      asio::ip::tcp::socket& s = sockets.back();
      connection_threads.emplace_back([this, &s] { serve(s); });
    }
  }

  void serve(asio::ip::tcp::socket& socket) {
    beast::flat_buffer buffer;
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
        std::lock_guard lock(mutex);
        requests.push_back(request);
      }
      TestResponse response = handler(request);
      if (response.delay.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + response.delay;
        while (!stopping && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (stopping) return;
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

  Handler handler;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::thread accept_thread;
  mutable std::mutex mutex;
  std::list<asio::ip::tcp::socket> sockets;  // list: stable addresses for the threads
  std::list<std::thread> connection_threads;
  std::vector<TestRequest> requests;
};

TestHttpServer::TestHttpServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}
TestHttpServer::~TestHttpServer() = default;

std::uint16_t TestHttpServer::port() const noexcept { return impl_->port; }

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

std::size_t TestHttpServer::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests.size();
}

std::size_t TestHttpServer::connection_count() const { return impl_->connections.load(); }

}  // namespace herald::testing_support
