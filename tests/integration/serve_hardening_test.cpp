// `herald serve` under abuse (issue 11, defects 1, 2, 3, 4 and 10), through the real binary on
// loopback: bounded framing, bounded worker lanes with 503s, isolation of publish from
// authorize floods, the /healthz cache, connection limits, the accept loop at the fd limit, the
// shutdown deadline and the publish fan-out cap. Each test prints the figures it measured.
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald_server.hpp"

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using herald::testing_support::BackgroundProcess;
using herald::testing_support::HeraldServer;
using herald::testing_support::HttpReply;
using herald::testing_support::process_rss_kb;
using herald::testing_support::read_file;
using herald::testing_support::split_lines;
using herald::testing_support::TempDir;
using herald::testing_support::TestHttpServer;
using herald::testing_support::TestRequest;
using herald::testing_support::TestResponse;
using herald::testing_support::write_file;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const std::string kKey = "hardening-key-1";
const herald::testing_support::Headers kAuth = {{"Authorization", "Bearer " + kKey}};

std::string Config(const std::string& server_extra = "", const std::string& more = "") {
  return "default = \"null\"\n[server]\napi_key = \"" + kKey + "\"\n" + server_extra +
         "\n[connections.null]\ndriver = \"null\"\n" + more;
}

std::string ErrorOf(const HttpReply& r) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.get_object().contains("error")) return "<no error in: " + r.body + ">";
  return std::string(v.at("error").as_string());
}

long long MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

// A status, or 0 when the server closed without answering, -1 when it could not connect.
int StatusOf(std::uint16_t port, const std::string& target, const std::string& body,
             const herald::testing_support::Headers& headers = kAuth,
             milliseconds timeout = std::chrono::seconds(20)) {
  try {
    return herald::testing_support::http_request(port, "POST", target, body, headers, timeout)
        .status;
  } catch (const boost::system::system_error& e) {
    return e.code() == asio::error::connection_refused ? -1 : 0;
  }
}

// utime + stime of a process, in ms.
long CpuMs(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return (utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// The value of one sample line of /metrics, or -1.
long Metric(const HeraldServer& server, const std::string& sample) {
  const std::string text = server.get("/metrics").body;
  const auto pos = text.find(sample + " ");
  if (pos == std::string::npos) return -1;
  return std::stol(text.substr(pos + sample.size() + 1));
}

template <class Pred>
bool PollUntil(Pred pred, milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

class ServeHardening : public ::testing::Test {
 protected:
  TempDir dir_{"herald-hardening"};
};

// ---------------------------------------------------------------------------------------------
// 1. Framing: whatever the client sends, one connection's memory stays bounded.

struct AbuseResult {
  std::size_t sent = 0;
  long rss_before_kb = 0, rss_peak_kb = 0;
  std::string reply;
};

// Sends `head`, then up to `total` bytes of `filler` repeated, sampling the server's RSS.
AbuseResult Abuse(HeraldServer& server, const std::string& head, const std::string& filler,
                  std::size_t total) {
  AbuseResult out;
  const int pid = server.process().pid();
  out.rss_before_kb = process_rss_kb(pid);
  std::atomic<bool> done{false};
  std::atomic<long> peak{out.rss_before_kb};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), process_rss_kb(pid));
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::address_v4::loopback(), server.port()});
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(head), ec);
  std::string chunk;
  while (chunk.size() < 1024 * 1024) chunk += filler;
  while (!ec && out.sent < total) out.sent += asio::write(socket, asio::buffer(chunk), ec);
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  char buffer[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (ec) break;
    out.reply.append(buffer, n);
  }
  done = true;
  sampler.join();
  out.rss_peak_kb = std::max(peak.load(), process_rss_kb(pid));
  return out;
}

TEST_F(ServeHardening, EndlessChunkLinesAndTrailersKeepMemoryFlat) {
  HeraldServer server(dir_, Config());
  const std::string head = "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           kKey + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct Case {
    const char* name;
    std::string head, filler;
  };
  const std::vector<Case> cases = {
      {"endless chunk extension", head + "1;", "e"},
      {"endless trailer line", head + "0\r\nX-Trailer: ", "t"},
      {"endless trailer lines", head + "0\r\n", "X-T: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n"},
  };
  constexpr std::size_t kOffered = 50 * 1024 * 1024;
  for (const Case& c : cases) {
    const AbuseResult r = Abuse(server, c.head, c.filler, kOffered);
    std::cout << "[figures] " << c.name << ": offered 50 MiB, server read <= " << r.sent / 1024
              << " KiB (rest refused), RSS " << r.rss_before_kb << " -> peak " << r.rss_peak_kb
              << " kB (+" << (r.rss_peak_kb - r.rss_before_kb) << " kB)\n";
    EXPECT_LT(r.sent, kOffered) << c.name << ": the server read all 50 MiB";
    EXPECT_LT(r.rss_peak_kb - r.rss_before_kb, 16 * 1024) << c.name;
    if (!r.reply.empty()) {
      EXPECT_THAT(r.reply, ::testing::AnyOf(StartsWith("HTTP/1.1 431"), StartsWith("HTTP/1.1 413")))
          << c.name << ": " << r.reply.substr(0, 200);
    }
  }
  EXPECT_EQ(server.get("/healthz").status, 200);
  EXPECT_EQ(StatusOf(server.port(), "/api/publish", R"({"topic":"a","message":"after"})"), 200);
}

// ---------------------------------------------------------------------------------------------
// 2. Bounded lanes: full queue, queue deadline, gone clients, isolation, the /healthz cache.

std::string SlowConnection(const fs::path& started, int delay_ms) {
  return "[connections.slow]\ndriver = \"controlled\"\ndelay_ms = " + std::to_string(delay_ms) +
         "\nstarted_file = \"" + started.string() + "\"\n";
}

TEST_F(ServeHardening, AFullPublishQueueAnswers503WithRetryAfter) {
  const fs::path started = dir_ / "started";
  HeraldServer server(dir_, Config("worker_threads = 1\nqueue_limit = 1\n",
                                   SlowConnection(started, 1500)));
  const std::string slow = R"({"topic":"a","message":"m","connection":"slow"})";
  auto running = std::async(std::launch::async, [&] { return StatusOf(server.port(), "/api/publish", slow); });
  ASSERT_TRUE(PollUntil([&] { return fs::exists(started); })) << server.log();
  auto queued = std::async(std::launch::async, [&] { return StatusOf(server.port(), "/api/publish", slow); });
  ASSERT_TRUE(PollUntil([&] {
    return Metric(server, "herald_http_queue_depth{lane=\"publish\"}") == 1;
  })) << server.log();
  const auto t = Clock::now();
  const HttpReply refused = server.post("/api/publish", R"({"topic":"a","message":"m"})", kAuth);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_LT(MsSince(t), 1000) << "a full lane must answer at once";
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(refused.header("Content-Type"), "application/json");
  EXPECT_THAT(ErrorOf(refused), HasSubstr("queue_limit 1"));
  EXPECT_EQ(running.get(), 200);
  EXPECT_EQ(queued.get(), 200);
  EXPECT_EQ(Metric(server, "herald_http_shed_total{reason=\"queue_full\"}"), 1);
  // Authorize and /metrics have lanes of their own: unaffected by the full publish lane.
  EXPECT_EQ(server.get("/healthz").status, 200);
}

TEST_F(ServeHardening, ARequestThatWaitedPastQueueTimeoutGets503WithoutRunning) {
  const fs::path started = dir_ / "started";
  HeraldServer server(dir_, Config("worker_threads = 1\nqueue_timeout_ms = 200\n",
                                   SlowConnection(started, 1000) +
                                       "[connections.log]\ndriver = \"log\"\nsink = \"file\"\n"
                                       "path = \"published.log\"\npattern = \"%v\"\nflush = true\n"));
  auto running = std::async(std::launch::async, [&] {
    return StatusOf(server.port(), "/api/publish", R"({"topic":"a","message":"m","connection":"slow"})");
  });
  ASSERT_TRUE(PollUntil([&] { return fs::exists(started); })) << server.log();
  const HttpReply late =
      server.post("/api/publish", R"({"topic":"a","message":"late","connection":"log"})", kAuth);
  EXPECT_EQ(late.status, 503) << late.body;
  EXPECT_EQ(late.header("Retry-After"), "1");
  EXPECT_THAT(ErrorOf(late), HasSubstr("queue_timeout_ms (200 ms)"));
  EXPECT_EQ(running.get(), 200);
  EXPECT_FALSE(fs::exists(dir_ / "published.log") &&
               read_file(dir_ / "published.log").find("late") != std::string::npos)
      << "a request answered 503 must not be published";
  EXPECT_EQ(Metric(server, "herald_http_shed_total{reason=\"queue_timeout\"}"), 1);
}

// The issue's reproduction: many unauthenticated 64 KB authorize requests against a slow
// webhook rule, most of their clients hanging up at once; an authenticated publish still
// answers fast, and the hung-up requests never reach the webhook.
TEST_F(ServeHardening, AnAuthorizeFloodNeverDelaysPublishAndGoneClientsAreDropped) {
  TestHttpServer app([](const TestRequest&) {
    TestResponse r;
    r.status = 204;
    r.delay = milliseconds(1000);
    return r;
  });
  HeraldServer server(dir_, "default = \"guard\"\n[server]\napi_key = \"" + kKey +
                                "\"\nauthorize_threads = 2\nauthorize_rate_per_ip = 0\n"
                                "[authorize]\npath = \"/broadcasting/auth\"\n"
                                "[[authorize.topics]]\npattern = \"order.{id}\"\n"
                                "rule = { webhook = { url = \"" + app.url() +
                                "/auth\", timeout_ms = 5000, "
                                "secret = \"webhook-signing-secret-0123456789abcdef\" } }\n"
                                "[connections.guard]\ndriver = \"fixture-guard\"\n"
                                "[connections.null]\ndriver = \"null\"\n");
  const long rss_before = process_rss_kb(server.process().pid());
  constexpr std::size_t kWaiting = 4, kGone = 96;
  const std::string body(64 * 1024, 'x');
  const std::string request = "POST /broadcasting/auth?channel_name=order.1 HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: text/plain\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::io_context io;
  auto send = [&] {
    auto socket = std::make_unique<asio::ip::tcp::socket>(io);
    socket->connect({asio::ip::address_v4::loopback(), server.port()});
    asio::write(*socket, asio::buffer(request));
    return socket;
  };
  // Clients that wait: both authorize threads are now stuck in the 1 s webhook.
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> waiting;
  for (std::size_t i = 0; i < kWaiting; ++i) waiting.push_back(send());
  ASSERT_TRUE(PollUntil([&] { return app.request_count() >= 2; })) << server.log();
  // Clients that hang up at once, as the issue's attacker did.
  for (std::size_t i = 0; i < kGone; ++i) send();
  const auto t = Clock::now();
  const HttpReply published = server.post(
      "/api/publish", R"({"topic":"a","message":"m","connection":"null"})", kAuth);
  const auto publish_ms = MsSince(t);
  EXPECT_EQ(published.status, 200) << published.body;
#if defined(HERALD_TSAN) || defined(HERALD_ASAN)
  constexpr long long kBudgetMs = 10000;  // sanitizers slow the parsing of the flood itself
#else
  constexpr long long kBudgetMs = 1000;
#endif
  EXPECT_LT(publish_ms, kBudgetMs) << "a publish waited behind the authorize flood";
  // The waiting clients are answered; the gone ones are dropped when a worker reaches them.
  for (auto& socket : waiting) {
    char reply[64] = {};
    boost::system::error_code ec;
    socket->read_some(asio::buffer(reply, sizeof reply - 1), ec);
    EXPECT_THAT(std::string(reply), StartsWith("HTTP/1.1 200")) << ec.message();
  }
  ASSERT_TRUE(PollUntil([&] {
    return Metric(server, "herald_http_shed_total{reason=\"client_gone\"}") ==
           static_cast<long>(kGone);
  })) << "gone=" << Metric(server, "herald_http_shed_total{reason=\"client_gone\"}")
      << " webhook calls=" << app.request_count();
  const long rss_after = process_rss_kb(server.process().pid());
  std::cout << "[figures] authorize flood: " << kWaiting << " waiting + " << kGone
            << " hung-up clients x 64 KiB against a 1 s webhook, 2 authorize threads: publish "
            << "answered in " << publish_ms << " ms; webhook calls " << app.request_count()
            << " (the waiting clients'); RSS " << rss_before << " -> " << rss_after << " kB\n";
  EXPECT_EQ(app.request_count(), kWaiting) << "requests of clients that hung up still ran";
}

TEST_F(ServeHardening, HealthzAnswersFromACacheRefreshedInTheBackground) {
  const fs::path calls = dir_ / "health-calls";
  HeraldServer server(dir_, Config("health_refresh_ms = 60000\n",
                                   "[connections.slow]\ndriver = \"slow-health\"\n"
                                   "health_delay_ms = 500\ncalls_file = \"" +
                                       calls.string() + "\"\n"));
  const auto t = Clock::now();
  for (int i = 0; i < 10; ++i) {
    const HttpReply r = server.get("/healthz");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_THAT(r.body, HasSubstr("\"slow\":{\"status\":\"up\"}"));
  }
  // 10 requests against a 500 ms health check: served from the cache, no driver call each.
  EXPECT_LT(MsSince(t), 2000);
  EXPECT_EQ(split_lines(read_file(calls)).size(), 1u) << "one refresh at start, none per request";
}

// ---------------------------------------------------------------------------------------------
// 3. Connection limits and the accept loop at the fd limit.

// An open connection, and whether the server closed it at once (without any request).
bool ClosedAtOnce(asio::ip::tcp::socket& socket) {
  socket.non_blocking(false);
  timeval tv{2, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

TEST_F(ServeHardening, MaxConnectionsPerIpAndGlobal) {
  for (const std::string key : {"max_connections_per_ip", "max_connections"}) {
    TempDir dir("herald-limit");
    // The held connections must outlive every poll below, however loaded the machine.
    HeraldServer server(dir, Config(key + " = 2\nrequest_timeout_ms = 60000\n"));
    asio::io_context io;
    std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
    // Two connections the server has admitted, each proved by an answered keep-alive request:
    // one may be refused while the start-up probe's connection is still counted.
    while (held.size() < 2) {
      auto socket = std::make_unique<asio::ip::tcp::socket>(io);
      socket->connect({asio::ip::address_v4::loopback(), server.port()});
      boost::beast::http::request<boost::beast::http::empty_body> req(
          boost::beast::http::verb::get, "/healthz", 11);
      req.set(boost::beast::http::field::host, "x");
      boost::system::error_code ec;
      boost::beast::http::write(*socket, req, ec);
      boost::beast::flat_buffer buffer;
      boost::beast::http::response<boost::beast::http::string_body> res;
      if (!ec) boost::beast::http::read(*socket, buffer, res, ec);
      if (!ec && res.result_int() == 200) held.push_back(std::move(socket));
    }
    // Both are admitted once the server has accepted them: a third is then refused.
    ASSERT_TRUE(PollUntil([&] {
      asio::ip::tcp::socket extra(io);
      extra.connect({asio::ip::address_v4::loopback(), server.port()});
      return ClosedAtOnce(extra);
    })) << key;
    held.pop_back();  // a slot frees up: served again
    ASSERT_TRUE(PollUntil([&] {
      try {
        return server.get("/healthz").status == 200;
      } catch (const std::exception&) {
        return false;
      }
    })) << key << "\n" << server.log();
    held.clear();
    EXPECT_THAT(server.log(), HasSubstr(key + " (2) reached"));
    EXPECT_TRUE(PollUntil([&] {
      try {
        return Metric(server, "herald_http_shed_total{reason=\"" + key + "\"}") >= 1;
      } catch (const std::exception&) {
        return false;
      }
    })) << key;
  }
}

// Sends `count` keep-alive GET /healthz on one connection (waiting `pause` between them) and
// returns the Connection header of each response ("" when the server closed instead).
std::vector<std::string> KeepAliveRun(std::uint16_t port, int count, milliseconds pause) {
  asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port));
  boost::beast::flat_buffer buffer;
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    if (i > 0) std::this_thread::sleep_for(pause);
    boost::beast::http::request<boost::beast::http::empty_body> req(boost::beast::http::verb::get,
                                                                    "/healthz", 11);
    req.set(boost::beast::http::field::host, "x");
    boost::system::error_code ec;
    boost::beast::http::write(stream, req, ec);
    boost::beast::http::response<boost::beast::http::string_body> res;
    if (!ec) boost::beast::http::read(stream, buffer, res, ec);
    if (ec) {
      out.emplace_back();
      break;
    }
    out.push_back(res.keep_alive() ? "keep-alive" : "close");
    if (!res.keep_alive()) break;
  }
  return out;
}

TEST_F(ServeHardening, KeepAliveEndsAfterMaxRequestsOrMaxAge) {
  {
    HeraldServer server(dir_, Config("max_requests_per_connection = 3\n"));
    EXPECT_THAT(KeepAliveRun(server.port(), 5, milliseconds(0)),
                ::testing::ElementsAre("keep-alive", "keep-alive", "close"));
  }
  TempDir dir("herald-age");
  HeraldServer server(dir, Config("max_connection_age_ms = 300\n"));
  EXPECT_THAT(KeepAliveRun(server.port(), 3, milliseconds(400)),
              ::testing::ElementsAre("keep-alive", "close"));
}

// At the fd limit, accept fails with EMFILE. It used to retry at once, logging ~100k lines/s
// and burning a core; now it backs off and logs about once a second.
TEST_F(ServeHardening, AtTheFdLimitTheAcceptLoopBacksOffAndLogsRarely) {
  const auto prlimit = herald::testing_support::find_program("prlimit");
  // util-linux is Essential on Debian: its absence is a broken machine, not a reason to skip.
  ASSERT_TRUE(prlimit) << "prlimit (util-linux) not found on PATH";
  const auto port = herald::testing_support::free_tcp_port();
  write_file(dir_ / "broadcasting.toml", Config("access_log = false\n"));
  BackgroundProcess process(
      *prlimit,
      {"--nofile=64:64", HERALD_TEST_BINARY, "--config", (dir_ / "broadcasting.toml").string(),
       "--plugin-dir", HERALD_TEST_FIXTURE_DIR, "serve", "--listen",
       "127.0.0.1:" + std::to_string(port)},
      BackgroundProcess::Options{{}, dir_.path(), dir_ / "serve.log"});
  process.wait_for_port(port, std::chrono::seconds(60));
  // Hold far more connections than the server has descriptors left.
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    boost::system::error_code ec;
    held.back()->connect({asio::ip::address_v4::loopback(), port}, ec);
  }
  ASSERT_TRUE(process.wait_for_output("accept failed", std::chrono::seconds(10))) << process.output();
  const long cpu_before = CpuMs(process.pid());
  const auto t = Clock::now();
  std::this_thread::sleep_for(milliseconds(2000));  // measuring a rate: a fixed window
  const long cpu_ms = CpuMs(process.pid()) - cpu_before;
  const auto window_ms = MsSince(t);
  const std::size_t lines = Count(process.output(), "accept failed");
  std::cout << "[figures] at the fd limit (RLIMIT_NOFILE 64, 100 connections held): "
            << lines << " 'accept failed' log lines in total, " << cpu_ms << " ms CPU in a "
            << window_ms << " ms window\n";
  EXPECT_LE(lines, 6u) << process.output().substr(0, 2000);
  EXPECT_LT(cpu_ms, 300) << "the accept loop burns CPU at the fd limit";
  EXPECT_THAT(process.output(), HasSubstr("pausing accepts for"));
  // Descriptors come back: the server serves again.
  held.clear();
  EXPECT_TRUE(PollUntil([&] {
    try {
      return herald::testing_support::http_request(port, "GET", "/healthz", {}, {},
                                                   milliseconds(2000))
                 .status == 200;
    } catch (const std::exception&) {
      return false;
    }
  })) << process.output().substr(0, 2000);
  EXPECT_EQ(process.stop(), 0) << process.output().substr(0, 2000);
}

// ---------------------------------------------------------------------------------------------
// 4. The shutdown deadline.

// A slow Pusher API (300 ms per call) behind 2 publish workers, 40 publishes queued, SIGTERM
// with shutdown_timeout_ms = 2000: the process exits near the deadline, and every client heard
// 200 (published, exactly once) or 503 (never published).
TEST_F(ServeHardening, ShutdownUnderLoadMeetsTheDeadlineAndLosesNothing) {
  TestHttpServer api([](const TestRequest&) {
    TestResponse r;
    r.body = "{}";
    r.delay = milliseconds(300);
    return r;
  });
  HeraldServer server(
      dir_, "default = \"p\"\n[server]\napi_key = \"" + kKey +
                "\"\nworker_threads = 2\nshutdown_timeout_ms = 2000\nqueue_timeout_ms = 60000\n"
                "access_log = false\n"
                "[connections.p]\ndriver = \"pusher\"\napp_id = \"1\"\nkey = \"k\"\n"
                "secret = \"s\"\nscheme = \"http\"\nhost = \"127.0.0.1\"\nport = " +
                std::to_string(api.port()) + "\n",
      HeraldServer::Options{{}, {"--plugin-dir", HERALD_TEST_PLUGIN_DIR}, true});
  constexpr int kClients = 40;
  std::vector<std::future<int>> clients;
  for (int i = 0; i < kClients; ++i)
    clients.push_back(std::async(std::launch::async, [&, i] {
      return StatusOf(server.port(), "/api/publish",
                      R"({"topic":"t","message":"m)" + std::to_string(i) + R"("})");
    }));
  // Every request is running (the API saw it) or queued.
  ASSERT_TRUE(PollUntil([&] {
    const long queued = Metric(server, "herald_http_queue_depth{lane=\"publish\"}");
    return queued >= 0 && static_cast<std::size_t>(queued) + api.request_count() >= kClients;
  })) << server.log();
  const auto t = Clock::now();
  server.process().signal(SIGTERM);
  const auto code = server.process().wait(std::chrono::seconds(30));
  const auto exit_ms = MsSince(t);
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  int ok = 0, unavailable = 0, other = 0;
  for (auto& c : clients) {
    const int status = c.get();
    (status == 200 ? ok : status == 503 ? unavailable : other)++;
  }
  std::cout << "[figures] shutdown under load (shutdown_timeout_ms 2000, 2 workers, 300 ms "
            << "per publish, " << kClients << " clients): exit after " << exit_ms << " ms; "
            << ok << " x 200, " << unavailable << " x 503, " << other << " other; published "
            << api.request_count() << "\n";
  EXPECT_LT(exit_ms, 2000 + 1500);
  EXPECT_EQ(other, 0) << "every client hears 200 or 503";
  EXPECT_EQ(static_cast<std::size_t>(ok), api.request_count())
      << "published must equal 200-answered: nothing lost, nothing duplicated";
  EXPECT_GT(unavailable, 0) << "the queue was not cut at the deadline";
  EXPECT_THAT(server.log(), HasSubstr("answered 503 without running"));
}

TEST_F(ServeHardening, AHungDriverCallDoesNotBlockExit) {
  const fs::path started = dir_ / "started";
  HeraldServer server(dir_, Config("shutdown_timeout_ms = 500\n", SlowConnection(started, 120000)));
  auto hung = std::async(std::launch::async, [&] {
    return StatusOf(server.port(), "/api/publish", R"({"topic":"a","message":"m","connection":"slow"})");
  });
  ASSERT_TRUE(PollUntil([&] { return fs::exists(started); })) << server.log();
  const auto t = Clock::now();
  server.process().signal(SIGTERM);
  const auto code = server.process().wait(std::chrono::seconds(30));
  const auto exit_ms = MsSince(t);
  ASSERT_TRUE(code.has_value()) << "a hung driver call blocked exit\n" << server.log();
  std::cout << "[figures] hung driver call (shutdown_timeout_ms 500): exit " << *code << " after "
            << exit_ms << " ms\n";
  EXPECT_EQ(*code, 1) << server.log();  // a driver failed at run time
  EXPECT_LT(exit_ms, 500 + 2500);
  EXPECT_THAT(server.log(), HasSubstr("abandoning"));
  EXPECT_EQ(hung.get(), 0) << "the abandoned request's client sees the connection close";
}

TEST_F(ServeHardening, SighupDoesNotStopTheServer) {
  HeraldServer server(dir_, Config());
  server.process().signal(SIGHUP);
  ASSERT_TRUE(server.process().wait_for_output("SIGHUP")) << server.log();
  EXPECT_EQ(server.get("/healthz").status, 200);
  EXPECT_EQ(server.process().stop(), 0) << server.log();
}

// ---------------------------------------------------------------------------------------------
// 10. Publish fan-out.

TEST_F(ServeHardening, PublishFanOutOverTheCapIs413BeforeAnyDriverCall) {
  HeraldServer server(dir_, Config("max_deliveries_per_publish = 10\n",
                                   "[connections.log]\ndriver = \"log\"\nsink = \"file\"\n"
                                   "path = \"published.log\"\npattern = \"%v\"\nflush = true\n"));
  const HttpReply over = server.post(
      "/api/publish",
      R"({"topics":["a","b","c","d"],"messages":["1","2","3"],"connection":"log"})", kAuth);
  EXPECT_EQ(over.status, 413) << over.body;
  EXPECT_EQ(ErrorOf(over),
            "4 topic(s) x 3 message(s) = 12 deliveries, over [server] max_deliveries_per_publish "
            "(10); split the publish");
  EXPECT_FALSE(fs::exists(dir_ / "published.log") && !read_file(dir_ / "published.log").empty());
  EXPECT_EQ(server.post("/api/publish",
                        R"({"topics":["a","b"],"messages":["1","2","3","4","5"],"connection":"log"})",
                        kAuth)
                .status,
            200);
}

TEST_F(ServeHardening, TheDefaultFanOutCapRefusesTheIssues2000By2000) {
  HeraldServer server(dir_, Config());
  std::string topics, messages;
  for (int i = 0; i < 2000; ++i) {
    topics += std::string(i ? "," : "") + "\"t\"";
    messages += std::string(i ? "," : "") + "1";
  }
  const HttpReply r = server.post(
      "/api/publish", "{\"topics\":[" + topics + "],\"messages\":[" + messages + "]}", kAuth);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(ErrorOf(r), HasSubstr("= 4000000 deliveries, over [server] max_deliveries_per_publish (10000)"));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Rate limits per client address.

namespace {

TEST_F(ServeHardening, TooMany401sFromOneAddressGet429) {
  HeraldServer server(dir_, Config("unauthorized_rate_per_ip = 3\n"));
  const std::string body = R"({"topic":"a","message":"m"})";
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(server.post("/api/publish", body, {{"Authorization", "Bearer wrong"}}).status, 401);
  const HttpReply limited = server.post("/api/publish", body, kAuth);  // even the right key
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.header("Retry-After"), "1");
  EXPECT_THAT(ErrorOf(limited), HasSubstr("unauthorized_rate_per_ip 3/s"));
  EXPECT_EQ(server.get("/healthz").status, 200);  // cheap endpoints stay open
  // The bucket refills (3 a second): served again.
  EXPECT_TRUE(PollUntil([&] { return server.post("/api/publish", body, kAuth).status == 200; }));
  EXPECT_GE(Metric(server, "herald_http_shed_total{reason=\"rate_limited\"}"), 1);
}

TEST_F(ServeHardening, AuthorizeRequestsAreRateLimitedPerAddress) {
  HeraldServer server(dir_, "default = \"guard\"\n[server]\napi_key = \"" + kKey +
                                "\"\nauthorize_rate_per_ip = 5\n"
                                "[authorize]\npath = \"/broadcasting/auth\"\n"
                                "[[authorize.topics]]\npattern = \"open\"\nrule = { allow = true }\n"
                                "[connections.guard]\ndriver = \"fixture-guard\"\n");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(server.get("/broadcasting/auth?channel_name=open").status, 200) << i;
  const HttpReply limited = server.get("/broadcasting/auth?channel_name=open");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.header("Retry-After"), "1");
  EXPECT_THAT(ErrorOf(limited), HasSubstr("authorize_rate_per_ip 5/s"));
  // Publishing is not the authorize path: unaffected.
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m","connection":"guard"})", kAuth).status,
            200);
}

}  // namespace
