// TLS on the `websocket` driver's port (plugins/websocket/README.md "TLS") through the real
// `herald serve`, with a CA and server certificates made by the test (tls_test_support.hpp):
// a TLS WebSocket client receives what `herald publish` sends through the Pusher HTTP API over
// https (verified against `tls_ca`); plain-text clients are refused and the server keeps
// running; a client that never handshakes is closed after tls_handshake_timeout_ms; replaced
// certificate files are used by new connections (a broken pair is reported and the old one kept);
// an untrusted certificate makes the one-shot publish fail with exit 1; bad settings are exit 2
// and never show the key.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_test_support.hpp"
#include "herald_server.hpp"
#include "test_files.hpp"
#include "tls_test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace tls = herald::testing_support::tls;
using herald::cli_test::ProcessResult;
using herald::cli_test::Describe;
using herald::cli_test::RunOptions;
using herald::cli_test::RunProcess;
using herald::testing_support::free_tcp_port;
using herald::testing_support::HeraldServer;
using herald::testing_support::TempDir;
using herald::testing_support::write_file;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

const fs::path kHerald = HERALD_TEST_BINARY;
const std::string kSecret = "Tls-Secret-4b3c2d1e";


// A raw TCP connection to 127.0.0.1:port (no TLS); -1 on failure.
int RawConnect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until EOF (true) or `timeout` (false); what arrived goes to `got`.
bool ReadUntilEof(int fd, Millis timeout, std::string& got) {
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset: closed by the server
    got.append(buf, static_cast<std::size_t>(n));
  }
}

class WebsocketTls : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = tls::issue("Herald Test CA", 1);
    tls::write_cert(ca_, dir_ / "ca.pem");
    Install(tls::issue("127.0.0.1", 100, &ca_));
  }

  // Writes a server certificate and key the way a deployment replaces them: new files renamed
  // over the old ones.
  void Install(const tls::Issued& server) {
    tls::write_cert(server, dir_ / "cert.pem.new");
    tls::write_key(server, dir_ / "key.pem.new");
    fs::rename(dir_ / "key.pem.new", dir_ / "key.pem");
    fs::rename(dir_ / "cert.pem.new", dir_ / "cert.pem");
  }

  std::string Config(const std::string& extra = "") const {
    return "default = \"websocket\"\n[server]\napi_key = \"test-key\"\n"
           "[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
           std::to_string(port_) + "\"\napp_id = \"app1\"\nkey = \"app-key\"\nsecret = \"" +
           kSecret + "\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n" + extra;
  }

  void Start(const std::string& extra = "") {
    server_ = std::make_unique<HeraldServer>(dir_, Config(extra));
    server_->process().wait_for_port(port_, std::chrono::seconds(20));
  }

  ProcessResult Herald(const std::vector<std::string>& args,
                       std::vector<std::pair<std::string, std::string>> env = {}) {
    RunOptions options;
    options.env = std::move(env);
    options.cwd = dir_.path();
    options.timeout = std::chrono::seconds(20);
    return RunProcess(kHerald, args, options);
  }
  ProcessResult Publish(const std::string& message) {
    return Herald({"--config", (dir_ / "broadcasting.toml").string(), "publish", "orders", "-m",
                   message});
  }

  // A TLS WebSocket connection subscribed to `channel`.
  std::unique_ptr<tls::Client> Subscriber(const std::string& channel = "orders",
                                          int receive_buffer = 0) {
    auto c = std::make_unique<tls::Client>(port_, dir_ / "ca.pem", Millis(5000), receive_buffer);
    EXPECT_TRUE(c->connected()) << c->error();
    if (!c->connected()) return c;
    EXPECT_TRUE(c->upgrade("app-key"));
    EXPECT_TRUE(c->wait_event("pusher:connection_established").has_value());
    c->send_text(R"({"event":"pusher:subscribe","data":{"channel":")" + channel + R"("}})");
    EXPECT_TRUE(c->wait_event("pusher_internal:subscription_succeeded").has_value());
    return c;
  }

  TempDir dir_;
  std::uint16_t port_ = free_tcp_port();
  tls::Issued ca_;
  std::unique_ptr<HeraldServer> server_;
};

// (1) A TLS WebSocket subscriber gets what `herald publish` sends through the Pusher HTTP API
// on the same TLS port, the certificate verified against tls_ca. The REST API, /healthz-style
// routes and the WebSocket all answer over TLS (ALPN http/1.1).
TEST_F(WebsocketTls, WebSocketOverTlsReceivesAVerifiedCliPublish) {
  Start("tls_ca = \"ca.pem\"\n");
  auto sub = Subscriber();
  ASSERT_TRUE(sub->connected());
  EXPECT_EQ(sub->alpn(), "http/1.1");
  const ProcessResult r = Publish("over-tls");
  ASSERT_EQ(r.exit_code, 0) << Describe(r) << server_->log();
  auto e = sub->wait_event("message");
  ASSERT_TRUE(e.has_value()) << server_->log();
  EXPECT_EQ(std::string(e->at("data").as_string()), "over-tls");
  // A second publish on the same subscriber: the session keeps working after the first.
  ASSERT_EQ(Publish("again").exit_code, 0);
  e = sub->wait_event("message");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(std::string(e->at("data").as_string()), "again");
  // The REST API answers over TLS too (an unsigned request: 401, not a TLS failure).
  tls::Client rest(port_, dir_ / "ca.pem");
  ASSERT_TRUE(rest.connected()) << rest.error();
  EXPECT_THAT(rest.http("GET", "/apps/app1/channels"), HasSubstr("HTTP/1.1 401"));
  EXPECT_THAT(server_->log(), HasSubstr("wss://"));
  EXPECT_THAT(server_->log(), Not(HasSubstr(kSecret)));
}

// (2) A plain-text client on the TLS port gets a plain 400 saying so (or is closed); the server
// keeps running and serves TLS clients.
TEST_F(WebsocketTls, PlainTextClientIsRefusedAndTheServerKeepsRunning) {
  Start();
  for (int i = 0; i < 3; ++i) {
    const int fd = RawConnect(port_);
    ASSERT_GE(fd, 0);
    const std::string request =
        "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string got;
    EXPECT_TRUE(ReadUntilEof(fd, Millis(5000), got)) << "not closed";
    ::close(fd);
    EXPECT_THAT(got, HasSubstr("HTTP/1.1 400"));
    EXPECT_THAT(got, HasSubstr("TLS only"));
  }
  // Garbage that is neither HTTP nor TLS: closed too.
  const int fd = RawConnect(port_);
  ASSERT_GE(fd, 0);
  const std::string junk(300, '\x16');
  ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  std::string got;
  EXPECT_TRUE(ReadUntilEof(fd, Millis(5000), got));
  ::close(fd);
  ASSERT_TRUE(server_->process().running()) << server_->log();
  auto sub = Subscriber();
  EXPECT_TRUE(sub->connected());
  EXPECT_EQ(server_->get("/healthz").status, 200);
}

// The send queue bounds a TLS socket as it does a plain one: a subscriber that stops reading is
// closed as a slow consumer (counted), the server's memory stays bounded, and a fast TLS
// subscriber on the same channel gets every event in order.
TEST_F(WebsocketTls, ASlowTlsSubscriberIsClosedAndAFastOneGetsEverything) {
  Start("send_queue_bytes = 65536\n");
  constexpr int kEvents = 1000;
  constexpr int kPerRequest = 50;
  const std::string payload(9000, 'z');
  auto fast = Subscriber("big");
  auto slow = Subscriber("big", 4096);
  ASSERT_TRUE(fast->connected() && slow->connected());
  const long rss_before = herald::testing_support::process_rss_kb(server_->process().pid());

  int fast_count = 0;
  bool in_order = true;
  std::thread reader([&] {
    while (fast_count < kEvents) {
      auto e = fast->wait_event("message");
      if (!e) return;
      const std::string data(e->at("data").as_string());
      if (data.substr(0, data.find(':')) != std::to_string(fast_count)) in_order = false;
      ++fast_count;
    }
  });
  long rss_peak = rss_before;
  for (int sent = 0; sent < kEvents; sent += kPerRequest) {
    std::string body = R"({"topic":"big","messages":[)";
    for (int i = sent; i < sent + kPerRequest; ++i)
      body += (i == sent ? "\"" : ",\"") + std::to_string(i) + ":" + payload + "\"";
    body += "]}";
    const auto r = server_->post("/api/publish", body, {{"Authorization", "Bearer test-key"}});
    EXPECT_EQ(r.status, 200) << r.body;
    rss_peak = std::max(rss_peak, herald::testing_support::process_rss_kb(server_->process().pid()));
  }
  reader.join();
  EXPECT_EQ(fast_count, kEvents) << "the fast TLS subscriber lost events";
  EXPECT_TRUE(in_order);
  // The slow one was dropped: it never gets all the events.
  int slow_count = 0;
  while (slow->wait_event("message")) ++slow_count;
  EXPECT_LT(slow_count, kEvents);
  const auto metrics = server_->get("/metrics");
  EXPECT_THAT(metrics.body,
              HasSubstr("herald_ws_slow_consumer_disconnects_total{connection=\"websocket\"} 1"));
#if !defined(HERALD_ASAN)  // ASan's quarantine keeps freed blocks resident
  EXPECT_LT(rss_peak - rss_before, 64 * 1024) << rss_before << " kB -> " << rss_peak << " kB";
#else
  (void)rss_peak;
#endif
  EXPECT_TRUE(server_->process().running());
}

// (3) A client that opens TCP and never sends a ClientHello is closed after the deadline.
TEST_F(WebsocketTls, SilentClientIsClosedAfterTheHandshakeDeadline) {
  Start("tls_handshake_timeout_ms = 500\n");
  const int fd = RawConnect(port_);
  ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  std::string got;
  EXPECT_TRUE(ReadUntilEof(fd, Millis(8000), got)) << "still open after 8 s";
  const auto waited = std::chrono::duration_cast<Millis>(Clock::now() - start);
  ::close(fd);
  EXPECT_GE(waited.count(), 400);
  EXPECT_LT(waited.count(), 4000);  // the deadline is checked once a second
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(server_->process().running());
}

// (4) Replaced files: new connections get the new certificate within a few seconds; a key that
// does not match is logged (paths only) and the current pair kept.
TEST_F(WebsocketTls, ReplacedCertificateIsUsedByNewConnections) {
  Start();
  auto old_conn = std::make_unique<tls::Client>(port_, dir_ / "ca.pem");
  ASSERT_TRUE(old_conn->connected()) << old_conn->error();
  EXPECT_EQ(old_conn->peer_serial(), 100);

  // A mismatched pair: the new certificate with the old key.
  const tls::Issued next = tls::issue("127.0.0.1", 200, &ca_);
  const std::string old_key = herald::testing_support::read_file(dir_ / "key.pem");
  tls::write_cert(next, dir_ / "cert.pem.new");
  fs::rename(dir_ / "cert.pem.new", dir_ / "cert.pem");
  ASSERT_TRUE(server_->process().wait_for_output("keeping the current TLS certificate",
                                                 std::chrono::seconds(10)))
      << server_->log();
  {
    tls::Client c(port_, dir_ / "ca.pem");
    ASSERT_TRUE(c.connected()) << c.error();
    EXPECT_EQ(c.peer_serial(), 100);
  }
  EXPECT_THAT(server_->log(), Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(server_->log(), Not(HasSubstr(old_key.substr(40, 40))));

  Install(next);
  long serial = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    tls::Client c(port_, dir_ / "ca.pem");
    ASSERT_TRUE(c.connected()) << c.error();
    serial = c.peer_serial();
    if (serial == 200) break;
    std::this_thread::sleep_for(Millis(100));
  }
  EXPECT_EQ(serial, 200) << server_->log();
  EXPECT_THAT(server_->log(), HasSubstr("TLS certificate reloaded"));
  // The connection made before keeps working.
  ASSERT_TRUE(old_conn->upgrade("app-key"));
  EXPECT_TRUE(old_conn->wait_event("pusher:connection_established").has_value());
}

// (5) The one-shot publish verifies the server certificate: with a CA that did not sign it (the
// system's store, or another tls_ca), `herald publish` fails with exit 1 and says why.
TEST_F(WebsocketTls, OneShotPublishRefusesAnUntrustedCertificate) {
  Start();  // no tls_ca: the system's store, which does not know the test CA
  ProcessResult r = Publish("nope");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("herald: "));
  EXPECT_THAT(r.err, HasSubstr("certificate")) << Describe(r);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kSecret)));

  const tls::Issued other = tls::issue("Other CA", 7);
  tls::write_cert(other, dir_ / "other-ca.pem");
  write_file(dir_ / "broadcasting.toml", Config("tls_ca = \"other-ca.pem\"\n"));
  r = Publish("nope");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("certificate")) << Describe(r);

  write_file(dir_ / "broadcasting.toml", Config("tls_ca = \"ca.pem\"\n"));
  r = Publish("yes");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);

  // `herald publish --server https://...` (the host's client) verifies too: this port's
  // certificate is not trusted by the system's store, so it fails before any request is sent.
  r = Herald({"--config", (dir_ / "broadcasting.toml").string(), "publish", "--server",
              "https://127.0.0.1:" + std::to_string(port_), "orders", "-m", "nope"},
             {{"HERALD_API_KEY", "test-key"}});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("SSL certificate problem")) << Describe(r);
}

// Settings: both or neither, readable files, a key that matches; exit 2 with one line naming
// the path, never the key's contents.
TEST_F(WebsocketTls, BadTlsSettingsAreConfigErrors) {
  const fs::path config = dir_ / "broadcasting.toml";
  auto base = [&](const std::string& keys) {
    return "default = \"websocket\"\n[server]\napi_key = \"test-key\"\n"
           "[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
           std::to_string(port_) + "\"\napp_id = \"app1\"\nkey = \"app-key\"\nsecret = \"" +
           kSecret + "\"\n" + keys;
  };
  write_file(config, base("tls_cert = \"cert.pem\"\n"));
  ProcessResult r = Herald({"--config", config.string(), "check"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("tls_cert` is set without tls_key"));

  write_file(config, base("tls_key = \"key.pem\"\ntls_ca = \"ca.pem\"\n"));
  r = Herald({"--config", config.string(), "check"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("tls_key` is set without tls_cert"));

  // A key file that is not a key, holding a marker that must never be shown.
  const std::string marker = "NOT-A-KEY-7c6b5a49";
  write_file(dir_ / "bad.key", "-----BEGIN PRIVATE KEY-----\n" + marker +
                                   "\n-----END PRIVATE KEY-----\n");
  write_file(config, base("tls_cert = \"cert.pem\"\ntls_key = \"bad.key\"\n"));
  r = Herald({"--config", config.string(), "serve", "--listen",
              "127.0.0.1:" + std::to_string(free_tcp_port())});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("cannot load tls_key"));
  EXPECT_THAT(r.err, HasSubstr("bad.key"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(marker)));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kSecret)));

  write_file(config, base("tls_cert = \"missing.pem\"\ntls_key = \"key.pem\"\n"));
  r = Herald({"--config", config.string(), "serve", "--listen",
              "127.0.0.1:" + std::to_string(free_tcp_port())});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("cannot load tls_cert"));
  EXPECT_THAT(r.err, HasSubstr("missing.pem"));
}

}  // namespace
