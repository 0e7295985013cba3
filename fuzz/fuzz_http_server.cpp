// Fuzz target: the real HttpServer of `herald serve` (Boost.Beast, its header/body/buffer
// limits, keep-alive and pipelining) fed raw bytes over loopback TCP in-process. Each input is
// one connection: written whole, the write side shut, every reply read until the server closes.
// The service behind it answers 200 with the body size, inline, so the server is what is fuzzed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"

namespace {

class EchoService final : public herald::HttpService {
 public:
  herald::Lane lane(const herald::HttpRequest&) const override { return herald::Lane::inline_; }
  herald::HttpResponse handle(const herald::HttpRequest& request, const std::string&) override {
    herald::HttpResponse res(boost::beast::http::status::ok, request.version());
    res.body() = std::to_string(request.body().size()) + " " + std::string(request.target());
    res.prepare_payload();
    return res;
  }
};

struct Fixture {
  EchoService service;
  herald::Metrics metrics;
  std::unique_ptr<herald::HttpServer> server;
  Fixture() {
    herald::ServerConfig config;
    config.listen.host = "127.0.0.1";
    config.listen.port = 0;
    config.io_threads = 1;
    config.worker_threads = 0;
    config.access_log = false;
    config.insecure_no_api_key = true;
    config.body_limit = 64 * 1024;  // small limits: the fuzzer reaches 413/431 quickly
    config.header_limit = 4 * 1024;
    config.request_timeout = std::chrono::milliseconds(2000);
    auto logger = std::make_shared<spdlog::logger>("fuzz");  // no sinks: quiet
    server = std::make_unique<herald::HttpServer>(config, service, logger, metrics);
    server->start();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture* fixture = new Fixture();  // never destroyed: threads outlive the last input
  if (size > 256 * 1024) return 0;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) std::abort();
  // Reset on close, no TIME_WAIT: a million connections would exhaust the ephemeral ports.
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(fixture->server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
    std::abort();
  // Write and read at once (pipelined requests may answer more than the socket buffers hold),
  // shut the write side after the last byte, read until the server closes. The server must be
  // done within its request timeout plus a margin: longer is a hang.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::size_t sent = 0;
  bool write_open = true;
  char buffer[16384];
  for (;;) {
    if (write_open && sent == size) {
      ::shutdown(fd, SHUT_WR);
      write_open = false;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) std::abort();  // the server hung on this input
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) std::abort();
    if (write_open && (p.revents & POLLOUT) != 0) {
      const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN) write_open = false;  // the server closed early: fine
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n == 0) break;                           // the server closed: done
      if (n < 0 && errno != EAGAIN) break;         // reset: the server dropped a bad connection
    }
  }
  ::close(fd);
  return 0;
}
