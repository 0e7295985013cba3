// A blocking HTTP/1.1 client and a small threaded HTTP server for tests and benchmarks, both on
// Boost.Beast and loopback only. The server stands in for peers (Centrifugo's API, a webhook, an
// HTTP sink): each request goes to a handler, which may answer slowly to exercise timeouts.
// Compiled once in herald_test_support (http_test.cpp): Beast stays out of every test file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::testing_support {

using Headers = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality (HTTP header names).
bool iequals(std::string_view a, std::string_view b) noexcept;
// The value of the first header called `name` (case-insensitive), or "".
std::string find_header(const Headers& headers, std::string_view name);

struct HttpReply {
  int status = 0;
  Headers headers;  // as received
  std::string body;

  // First header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const { return find_header(headers, name); }
};

// One request on a fresh connection. Throws boost::system::system_error when the server cannot
// be reached or closes without answering.
HttpReply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                       std::string_view body = {}, const Headers& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));

struct TestRequest {
  std::string method;
  std::string target;  // path and query as sent
  Headers headers;
  std::string body;

  std::string header(std::string_view name) const { return find_header(headers, name); }
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

  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::uint16_t port() const noexcept;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  std::vector<TestRequest> requests() const;
  std::size_t request_count() const;
  // Connections accepted so far (keep-alive tests).
  std::size_t connection_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::testing_support
