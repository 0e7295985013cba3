// `herald serve` over HTTPS (issue 11, "TLS"): `[server] tls_cert`/`tls_key` with certificates
// the test makes (tls_test_support.hpp), `herald publish --server https://...` verifying them
// (--ca-file / HERALD_CA_FILE), plain HTTP refused on the TLS port, reload on SIGHUP (a bad
// pair keeps the old certificate) and one-sided configuration rejected by `herald check`.
#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald_server.hpp"
#include "tls_test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace tls = herald::testing_support::tls;
using herald::testing_support::BackgroundProcess;
using herald::testing_support::HeraldServer;
using herald::testing_support::TempDir;
using herald::testing_support::write_file;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKey = "tls-test-api-key-1";

// The server closes refused connections at once: a write to one must fail, not kill the test.
const bool kNoSigpipe = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// The CA and a server certificate (serial `serial`), written as ca.pem, <name>.pem and
// <name>.key in `dir`.
struct Pki {
  tls::Issued ca;
  explicit Pki(const TempDir& dir) : ca(tls::issue("Herald Test CA", 1)) {
    tls::write_cert(ca, dir / "ca.pem");
  }
  void server(const TempDir& dir, const std::string& name, long serial) const {
    const tls::Issued cert = tls::issue("herald-serve-" + std::to_string(serial), serial, &ca);
    tls::write_cert(cert, dir / (name + ".pem"));
    tls::write_key(cert, dir / (name + ".key"));
  }
};

// Relative paths: resolved against the config file's directory.
std::string Config(const std::string& server_extra = "tls_cert = \"server.pem\"\n"
                                                     "tls_key = \"server.key\"\n") {
  return "default = \"null\"\n[server]\napi_key = \"" + kKey + "\"\n" + server_extra +
         "\n[connections.null]\ndriver = \"null\"\n";
}

HeraldServer::Options Opts(bool wait = true) {
  HeraldServer::Options o;
  o.extra_args = {"--log-level", "debug"};
  o.wait = wait;
  return o;
}

// Runs `herald ARGS...`; returns its exit code and output.
std::pair<int, std::string> RunHerald(const TempDir& dir, const std::vector<std::string>& args,
                                      std::vector<std::pair<std::string, std::string>> env = {}) {
  BackgroundProcess p(HERALD_TEST_BINARY, args,
                      BackgroundProcess::Options{std::move(env), dir.path(), {}});
  const int code = p.wait(std::chrono::seconds(30)).value_or(-1);
  return {code, p.output()};
}

std::string HttpsUrl(const HeraldServer& s) {
  return "https://127.0.0.1:" + std::to_string(s.port());
}

TEST(ServeTls, PublishAndHealthOverHttpsWithTheCa) {
  TempDir dir("herald-serve-tls");
  Pki pki(dir);
  pki.server(dir, "server", 100);
  HeraldServer server(dir, Config(), Opts());
  EXPECT_TRUE(server.process().wait_for_output("herald serving on https://")) << server.log();

  tls::Client client(server.port(), dir / "ca.pem");
  ASSERT_TRUE(client.connected()) << client.error();
  EXPECT_EQ(client.peer_serial(), 100);
  EXPECT_EQ(client.alpn(), "http/1.1");
  const std::string health = client.http("GET", "/healthz");
  EXPECT_THAT(health, ::testing::StartsWith("HTTP/1.1 200")) << health;

  // --ca-file, then HERALD_CA_FILE.
  auto [code, out] = RunHerald(dir, {"publish", "--server", HttpsUrl(server), "--ca-file",
                                     (dir / "ca.pem").string(), "-m", "hello", "news"},
                               {{"HERALD_API_KEY", kKey}});
  EXPECT_EQ(code, 0) << out;
  auto [code2, out2] = RunHerald(dir, {"publish", "--server", HttpsUrl(server), "-m", "x", "news"},
                                 {{"HERALD_API_KEY", kKey},
                                  {"HERALD_CA_FILE", (dir / "ca.pem").string()}});
  EXPECT_EQ(code2, 0) << out2;
  EXPECT_TRUE(server.process().wait_for_output("path=/api/publish status=200")) << server.log();
  EXPECT_EQ(server.process().stop(), 0) << server.log();
}

TEST(ServeTls, PublishWithoutTheCaFailsCleanly) {
  TempDir dir("herald-serve-tls");
  Pki pki(dir);
  pki.server(dir, "server", 101);
  HeraldServer server(dir, Config(), Opts());
  auto [code, out] = RunHerald(dir, {"publish", "--server", HttpsUrl(server), "-m", "x", "news"},
                               {{"HERALD_API_KEY", kKey}});
  EXPECT_EQ(code, 1) << out;  // cannot reach the server: a run-time failure
  EXPECT_THAT(out, HasSubstr("certificate is not trusted")) << out;
  EXPECT_THAT(out, HasSubstr("--ca-file")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;  // one line
  EXPECT_THAT(out, Not(HasSubstr(kKey)));
  // A CA file that does not exist is a usage error.
  auto [code2, out2] = RunHerald(dir, {"publish", "--server", HttpsUrl(server), "--ca-file",
                                       (dir / "missing.pem").string(), "-m", "x", "news"},
                                 {{"HERALD_API_KEY", kKey}});
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_THAT(out2, HasSubstr("missing.pem")) << out2;
  EXPECT_THAT(server.log(), Not(HasSubstr("status=200")));
  EXPECT_EQ(server.process().stop(), 0) << server.log();
}

TEST(ServeTls, PlainHttpOnTheTlsPortIsRefusedAndServingGoesOn) {
  TempDir dir("herald-serve-tls");
  Pki pki(dir);
  pki.server(dir, "server", 102);
  HeraldServer server(dir, Config(), Opts());
  for (int i = 0; i < 3; ++i) {
    // Either a plain 400 saying so, or a closed connection: never an answer from the API.
    try {
      const auto reply = server.get("/healthz");
      EXPECT_EQ(reply.status, 400) << reply.body;
      EXPECT_THAT(reply.body, HasSubstr("TLS only"));
    } catch (const std::exception&) {
    }
  }
  ASSERT_TRUE(server.process().wait_for_output("TLS handshake with")) << server.log();
  tls::Client client(server.port(), dir / "ca.pem");
  ASSERT_TRUE(client.connected()) << client.error();
  EXPECT_THAT(client.http("GET", "/healthz"), ::testing::StartsWith("HTTP/1.1 200"));
  tls::Client metrics(server.port(), dir / "ca.pem");
  ASSERT_TRUE(metrics.connected()) << metrics.error();
  const std::string text =
      metrics.http("GET", "/metrics", {}, "Authorization: Bearer " + kKey + "\r\n");
  EXPECT_THAT(text, HasSubstr("herald_http_tls_handshake_failures_total 3")) << text;
  EXPECT_EQ(server.process().stop(), 0) << server.log();
}

TEST(ServeTls, AHandshakeCountsTowardLimitsAndTheRequestTimeout) {
  TempDir dir("herald-serve-tls");
  Pki pki(dir);
  pki.server(dir, "server", 300);
  HeraldServer server(dir,
                      Config("tls_cert = \"server.pem\"\ntls_key = \"server.key\"\n"
                             "max_connections_per_ip = 1\nrequest_timeout_ms = 300\n"),
                      Opts());
  // A connection that never starts its handshake holds the address's only slot (a TLS client
  // is refused) until the request timeout closes it. Retried: the slot may still be held for a
  // moment by the previous connection (the start-up probe), which would refuse `idle` instead.
  bool held = false;
  for (int attempt = 0; attempt < 20 && !held; ++attempt) {
    const int idle = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(idle, 0);
    timeval tv{10, 0};
    ::setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(idle, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const auto started = std::chrono::steady_clock::now();
    bool refused = false;
    {
      tls::Client client(server.port(), dir / "ca.pem");
      refused = !client.connected();
    }
    char byte = 0;
    const bool closed = ::recv(idle, &byte, 1, 0) == 0;
    const auto waited = std::chrono::steady_clock::now() - started;
    ::close(idle);
    EXPECT_TRUE(closed);  // never left open past the timeout
    EXPECT_LT(waited, std::chrono::seconds(5));
    held = refused && closed && waited >= std::chrono::milliseconds(250);
  }
  EXPECT_TRUE(held) << server.log();
  bool served = false;  // the slot is given back once the server has seen the close
  for (int i = 0; i < 100 && !served; ++i) {
    tls::Client client(server.port(), dir / "ca.pem");
    served = client.connected() &&
             client.http("GET", "/healthz").starts_with("HTTP/1.1 200");
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served) << server.log();
  EXPECT_EQ(server.process().stop(), 0) << server.log();
}

TEST(ServeTls, SighupReloadsTheCertificateAndABadPairKeepsTheOld) {
  TempDir dir("herald-serve-tls");
  Pki pki(dir);
  pki.server(dir, "server", 200);
  HeraldServer server(dir, Config(), Opts());
  {
    tls::Client before(server.port(), dir / "ca.pem");
    ASSERT_TRUE(before.connected()) << before.error();
    EXPECT_EQ(before.peer_serial(), 200);
  }
  pki.server(dir, "server", 201);
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_for_output("SIGHUP: reloaded the TLS certificate"))
      << server.log();
  {
    tls::Client after(server.port(), dir / "ca.pem");
    ASSERT_TRUE(after.connected()) << after.error();
    EXPECT_EQ(after.peer_serial(), 201);
    EXPECT_THAT(after.http("GET", "/healthz"), ::testing::StartsWith("HTTP/1.1 200"));
  }
  // A key that does not match the certificate: logged, the previous pair stays in use.
  pki.server(dir, "other", 202);
  fs::copy_file(dir / "other.key", dir / "server.key", fs::copy_options::overwrite_existing);
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_for_output("SIGHUP: cannot reload TLS")) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("does not match tls_cert"));
  {
    tls::Client still(server.port(), dir / "ca.pem");
    ASSERT_TRUE(still.connected()) << still.error();
    EXPECT_EQ(still.peer_serial(), 201);
  }
  const std::string log = server.log();
  EXPECT_THAT(log, HasSubstr((dir / "server.pem").string()));
  EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_EQ(server.process().stop(), 0) << log;
}

TEST(ServeTls, OneSidedOrUnreadableTlsConfigIsAConfigError) {
  TempDir dir("herald-serve-tls");
  write_file(dir / "broadcasting.toml", Config("tls_cert = \"server.pem\"\n"));
  auto [code, out] = RunHerald(dir, {"--config", (dir / "broadcasting.toml").string(),
                                     "--plugin-dir", HERALD_TEST_FIXTURE_DIR, "check"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("broadcasting.toml:4:"));
  EXPECT_THAT(out, HasSubstr("`server.tls_cert` is set without `server.tls_key`")) << out;

  write_file(dir / "broadcasting.toml", Config("tls_key = \"server.key\"\n"));
  auto [code2, out2] = RunHerald(dir, {"--config", (dir / "broadcasting.toml").string(),
                                       "--plugin-dir", HERALD_TEST_FIXTURE_DIR, "check"});
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_THAT(out2, HasSubstr("`server.tls_key` is set without `server.tls_cert`")) << out2;

  // Both set but the files are missing: `check` says so, `serve` refuses to start (exit 2).
  write_file(dir / "broadcasting.toml", Config());
  auto [code3, out3] = RunHerald(dir, {"--config", (dir / "broadcasting.toml").string(),
                                       "--plugin-dir", HERALD_TEST_FIXTURE_DIR, "check"});
  EXPECT_EQ(code3, 2) << out3;
  EXPECT_THAT(out3, HasSubstr("cannot load tls_cert `" + (dir / "server.pem").string()))
      << out3;
  EXPECT_THAT(out3, HasSubstr("No such file or directory")) << out3;
  HeraldServer server(dir, Config(), Opts(false));
  EXPECT_EQ(server.process().wait(std::chrono::seconds(30)), 2) << server.log();
  EXPECT_THAT(server.log(), HasSubstr((dir / "server.pem").string()));
}

}  // namespace
