// `herald serve` through the real binary on loopback: the publish API and its status codes,
// limits, keep-alive and pipelining, /healthz, /metrics, graceful shutdown, publish --server.
#include <signal.h>

#include <future>
#include <regex>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_test_support.hpp"
#include "herald_server.hpp"

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using herald::cli_test::ProcessResult;
using herald::cli_test::RunOptions;
using herald::cli_test::RunProcess;
using herald::testing_support::HeraldServer;
using herald::testing_support::HttpReply;
using herald::testing_support::process_rss_kb;
using herald::testing_support::read_file;
using herald::testing_support::split_lines;
using herald::testing_support::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kKey = "test-key-1";
const herald::testing_support::Headers kAuth = {{"Authorization", "Bearer " + kKey}};

// A config with a file-sink log connection (the default), the fixture drivers and an API key.
std::string Config(const std::string& server_extra = "", const std::string& more = "") {
  return R"(default = "log"
[server]
api_key = ")" + kKey + "\"\n" + server_extra + R"(
[connections.log]
driver = "log"
sink = "file"
path = "published.log"
pattern = "%v"
flush = true
[connections.null]
driver = "null"
[connections.failing]
driver = "publish-throws"
)" + more;
}

std::string ErrorOf(const HttpReply& r) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.get_object().contains("error")) return "<no error in: " + r.body + ">";
  return std::string(v.at("error").as_string());
}

std::string LogLine(const std::string& topics, const std::string& message) {
  return "Broadcasting on channels [" + topics + "] with payload: " + message;
}

// Raw bytes to the server and everything it sends back until it closes (or the timeout).
std::string RawExchange(std::uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds pause_after_write = std::chrono::milliseconds(0)) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::address_v4::loopback(), port});
  asio::write(socket, asio::buffer(bytes));
  if (pause_after_write.count() > 0) std::this_thread::sleep_for(pause_after_write);
  std::string out;
  boost::system::error_code ec;
  char buffer[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (ec) break;
    out.append(buffer, n);
  }
  return out;
}

class Serve : public ::testing::Test {
 protected:
  TempDir dir_{"herald-serve"};
};

// ---------------------------------------------------------------------------------------------
// publish API

TEST_F(Serve, PublishesEveryMessageToEveryTopicIntoTheLogFile) {
  HeraldServer server(dir_, Config());
  const HttpReply r = server.post(
      "/api/publish", R"({"topics":["order.1","order.2"],"messages":["one",{"status":"x"},42]})", kAuth);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(boost::json::parse(r.body), boost::json::parse(R"({"published":3})"));
  EXPECT_THAT(split_lines(read_file(dir_ / "published.log")),
              ElementsAre(LogLine("order.1, order.2", "one"),
                          LogLine("order.1, order.2", R"({"status":"x"})"),
                          LogLine("order.1, order.2", "42")));
}

TEST_F(Serve, SingleTopicAndMessageFormsAndANamedConnection) {
  HeraldServer server(dir_, Config());
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m1"})", kAuth).status, 200);
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m2","connection":"null"})", kAuth).status, 200);
  EXPECT_THAT(split_lines(read_file(dir_ / "published.log")), ElementsAre(LogLine("a", "m1")));
}

TEST_F(Serve, ApiKeyViaBearerOrXApiKeyAnyConfiguredKey) {
  HeraldServer server(dir_, R"(default = "null"
[server]
api_key = ["first-key", "second-key"]
[connections.null]
driver = "null"
)");
  const std::string body = R"({"topic":"a","message":"m"})";
  EXPECT_EQ(server.post("/api/publish", body, {{"Authorization", "Bearer first-key"}}).status, 200);
  EXPECT_EQ(server.post("/api/publish", body, {{"authorization", "bearer second-key"}}).status, 200);
  EXPECT_EQ(server.post("/api/publish", body, {{"X-API-Key", "second-key"}}).status, 200);
  for (const herald::testing_support::Headers& wrong :
       {herald::testing_support::Headers{}, {{"Authorization", "Bearer first-ke"}},
        {{"Authorization", "Bearer first-key2"}}, {{"X-API-Key", ""}},
        {{"Authorization", "Basic Zmlyc3Qta2V5"}}}) {
    const HttpReply r = server.post("/api/publish", body, wrong);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"herald\"");
    EXPECT_THAT(ErrorOf(r), HasSubstr("API key"));
  }
  EXPECT_THAT(server.log(), ::testing::Not(HasSubstr("first-key")));  // keys are never logged
}

TEST_F(Serve, NoKeyConfiguredRefusesTheApiUnlessExplicitlyInsecure) {
  {
    HeraldServer server(dir_, "default = \"null\"\n[connections.null]\ndriver = \"null\"\n");
    const HttpReply r = server.post("/api/publish", R"({"topic":"a","message":"m"})");
    EXPECT_EQ(r.status, 403);
    EXPECT_THAT(ErrorOf(r), HasSubstr("api_key"));
  }
  HeraldServer server(dir_, "default = \"null\"\n[server]\ninsecure_no_api_key = true\n"
                            "[connections.null]\ndriver = \"null\"\n");
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m"})").status, 200);
}

TEST_F(Serve, BadBodiesGet400WithWhatWasWrong) {
  HeraldServer server(dir_, Config());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"topic":"a","message":)", "body is not valid JSON"},
      {R"(["a"])", "body must be a JSON object"},
      {R"({"message":"m"})", "`topic` or `topics` is required"},
      {R"({"topic":"a"})", "`message` or `messages` is required"},
      {R"({"topics":[],"message":"m"})", "`topics` must not be empty"},
      {R"({"topics":["a",1],"message":"m"})", "`topics` must be an array of strings"},
      {R"({"topic":"a","topics":["b"],"message":"m"})", "not both"},
      {R"({"topic":"a","messages":"m"})", "`messages` must be an array"},
      {R"({"topic":"","message":"m"})", "must not be an empty string"},
      {R"({"topic":"a","message":"m","connection":7})", "`connection` must be a string"},
      {R"({"topic":"a","message":"m","extra":1})", "unknown field `extra`"},
  };
  for (const auto& [body, why] : cases) {
    const HttpReply r = server.post("/api/publish", body, kAuth);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_THAT(ErrorOf(r), HasSubstr(why)) << body;
  }
  EXPECT_FALSE(fs::exists(dir_ / "published.log") && !read_file(dir_ / "published.log").empty());
}

TEST_F(Serve, UnknownConnection404AndDriverFailure502) {
  HeraldServer server(dir_, Config());
  HttpReply r = server.post("/api/publish", R"({"topic":"a","message":"m","connection":"nope"})", kAuth);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r), "Config for connection `nope` is not defined.");
  r = server.post("/api/publish", R"({"topic":"a","message":"m","connection":"failing"})", kAuth);
  EXPECT_EQ(r.status, 502);
  EXPECT_THAT(ErrorOf(r), HasSubstr("peer said no"));
  // The server is still fine afterwards.
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m"})", kAuth).status, 200);
}

TEST_F(Serve, WrongMethod405AndUnknownPath404) {
  HeraldServer server(dir_, Config());
  HttpReply r = server.get("/api/publish", kAuth);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "POST");
  r = herald::testing_support::http_request(server.port(), "DELETE", "/healthz");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD");
  r = server.get("/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(ErrorOf(r), HasSubstr("/nothing/here"));
}

// ---------------------------------------------------------------------------------------------
// limits and bad input

TEST_F(Serve, BodyTooLargeGets413) {
  HeraldServer server(dir_, Config("body_limit = 2048\n"));
  const std::string big = R"({"topic":"a","message":")" + std::string(4096, 'x') + "\"}";
  const HttpReply r = server.post("/api/publish", big, kAuth);
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(ErrorOf(r), HasSubstr("2048"));
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"small"})", kAuth).status, 200);
}

TEST_F(Serve, HeaderTooLargeGets431) {
  HeraldServer server(dir_, Config("header_limit = 2048\n"));
  const HttpReply r = server.post("/api/publish", R"({"topic":"a","message":"m"})",
                                  {{"Authorization", "Bearer " + kKey}, {"X-Big", std::string(4096, 'h')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(server.get("/healthz").status, 200);
}

// A chunk-size line that never ends ("1;" and then extension bytes forever) once grew the
// server by 400 MB in 3 s: the connection's read buffer is bounded whatever the framing, the
// client gets 431 (or the connection ends), and the server keeps serving.
TEST_F(Serve, AChunkLineThatNeverEndsIsCutOffWithBoundedMemory) {
  HeraldServer server(dir_, Config());
  const long rss_before = process_rss_kb(server.process().pid());
  ASSERT_GT(rss_before, 0);
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::address_v4::loopback(), server.port()});
  boost::system::error_code ec;
  asio::write(socket,
              asio::buffer("POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
                           "\r\nTransfer-Encoding: chunked\r\n\r\n1;"),
              ec);
  ASSERT_FALSE(ec) << ec.message();
  const std::string junk(1024 * 1024, 'e');
  std::size_t sent = 0;
  for (int i = 0; i < 64 && !ec; ++i) sent += asio::write(socket, asio::buffer(junk), ec);
  const long rss_peak = process_rss_kb(server.process().pid());
  // 64 MiB offered; what the kernel's buffers took aside, the server stopped reading early.
  EXPECT_TRUE(ec) << "the server read all " << sent << " bytes of one endless chunk line";
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  std::string reply;
  char buffer[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (ec) break;
    reply.append(buffer, n);
  }
  if (!reply.empty()) {
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 431")) << reply.substr(0, 200);
  }
  EXPECT_LT(rss_peak - rss_before, 16 * 1024) << "RSS " << rss_before << " kB -> " << rss_peak << " kB";
  EXPECT_EQ(server.get("/healthz").status, 200);
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"after"})", kAuth).status, 200);
}

TEST_F(Serve, MalformedHttpGets400AndTheServerKeepsServing) {
  HeraldServer server(dir_, Config());
  const std::string reply = RawExchange(server.port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(server.get("/healthz").status, 200);
}

TEST_F(Serve, SlowClientIsCutOffWith408WhileOthersAreServed) {
  HeraldServer server(dir_, Config("request_timeout_ms = 400\n"));
  auto slow = std::async(std::launch::async, [&] {
    return RawExchange(server.port(), "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"to");
  });
  // Meanwhile another client is served normally.
  EXPECT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m"})", kAuth).status, 200);
  const auto started = std::chrono::steady_clock::now();
  const std::string reply = slow.get();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 408"));
  EXPECT_THAT(reply, HasSubstr("Connection: close"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(Serve, IdleKeepAliveConnectionIsClosedSilently) {
  HeraldServer server(dir_, Config("request_timeout_ms = 300\n"));
  EXPECT_EQ(RawExchange(server.port(), ""), "");  // nothing sent, nothing answered, closed
}

TEST_F(Serve, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  HeraldServer server(dir_, Config());
  const std::string body1 = R"({"topic":"p","message":"first"})";
  const std::string body2 = R"({"topic":"p","message":"second"})";
  auto request = [&](const std::string& body, bool close) {
    return "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
  };
  const std::string replies =
      RawExchange(server.port(), request(body1, false) + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" +
                                     request(body2, true));
  const std::regex status_line("HTTP/1\\.1 (\\d{3})");
  std::vector<std::string> statuses;
  for (auto it = std::sregex_iterator(replies.begin(), replies.end(), status_line);
       it != std::sregex_iterator(); ++it)
    statuses.push_back((*it)[1]);
  EXPECT_THAT(statuses, ElementsAre("200", "404", "200")) << replies;
  EXPECT_THAT(split_lines(read_file(dir_ / "published.log")),
              ElementsAre(LogLine("p", "first"), LogLine("p", "second")));
}

// ---------------------------------------------------------------------------------------------
// health and metrics

TEST_F(Serve, HealthzSaysWhichConnectionsAreUp) {
  HeraldServer server(dir_, Config("", "[connections.flaky]\ndriver = \"controlled\"\nhealthy = true\n"));
  HttpReply r = server.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(boost::json::parse(r.body),
            boost::json::parse(R"({"status":"ok","connections":{"log":{"status":"up"},
              "null":{"status":"up"},"failing":{"status":"up"},"flaky":{"status":"up"}}})"));
  EXPECT_EQ(herald::testing_support::http_request(server.port(), "HEAD", "/healthz").status, 200);
}

TEST_F(Serve, HealthzIs503WhenAConnectionIsDown) {
  HeraldServer server(dir_, Config("", "[connections.flaky]\ndriver = \"controlled\"\nhealthy = false\n"));
  const HttpReply r = server.get("/healthz");
  EXPECT_EQ(r.status, 503);
  const auto body = boost::json::parse(r.body);
  EXPECT_EQ(body.at("status"), "unavailable");
  EXPECT_EQ(body.at("connections").at("flaky").at("status"), "down");
  EXPECT_THAT(std::string(body.at("connections").at("flaky").at("error").as_string()),
              HasSubstr("peer unreachable"));
  EXPECT_EQ(body.at("connections").at("log").at("status"), "up");
}

TEST_F(Serve, MetricsCountPublishesFailuresLatencyAndStatuses) {
  HeraldServer server(dir_, Config());
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(server.post("/api/publish", R"({"topic":"a","messages":["x","y"]})", kAuth).status, 200);
  ASSERT_EQ(server.post("/api/publish", R"({"topic":"a","message":"m","connection":"failing"})", kAuth).status, 502);
  ASSERT_EQ(server.get("/nope").status, 404);
  const HttpReply r = server.get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.header("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  for (const char* line : {
           "herald_publish_total{connection=\"log\"} 3",
           "herald_messages_published_total{connection=\"log\"} 6",
           "herald_publish_failures_total{connection=\"log\"} 0",
           "herald_publish_total{connection=\"failing\"} 1",
           "herald_publish_failures_total{connection=\"failing\"} 1",
           "herald_publish_duration_seconds_bucket{connection=\"log\",le=\"+Inf\"} 3",
           "herald_publish_duration_seconds_count{connection=\"log\"} 3",
           "herald_http_requests_total{code=\"200\"} 3",
           "herald_http_requests_total{code=\"502\"} 1",
           "herald_http_requests_total{code=\"404\"} 1",
           "# TYPE herald_publish_duration_seconds histogram",
       })
    EXPECT_THAT(r.body, HasSubstr(std::string(line) + "\n")) << line;
}

TEST_F(Serve, AccessLogAndJsonLogFormat) {
  HeraldServer server(dir_, Config("log_format = \"json\"\n"));
  ASSERT_EQ(server.get("/healthz").status, 200);
  ASSERT_TRUE(server.process().wait_for_output("path=/healthz"));
  for (const auto& line : split_lines(server.log())) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    EXPECT_TRUE(v.at("time").is_string());
    EXPECT_TRUE(v.at("level").is_string());
    EXPECT_TRUE(v.at("message").is_string());
  }
  EXPECT_THAT(server.log(), HasSubstr("access remote=127.0.0.1:"));
  EXPECT_THAT(server.log(), HasSubstr("method=GET path=/healthz status=200"));
}

// ---------------------------------------------------------------------------------------------
// start-up and shutdown

TEST_F(Serve, GracefulShutdownFinishesInFlightRequestsThenExits0) {
  const fs::path started = dir_ / "started";
  HeraldServer server(dir_, Config("", "[connections.slow]\ndriver = \"controlled\"\ndelay_ms = 1500\n"
                                       "started_file = \"" + started.string() + "\"\n"));
  auto in_flight = std::async(std::launch::async, [&] {
    return server.post("/api/publish", R"({"topic":"a","message":"m","connection":"slow"})", kAuth);
  });
  // Wait until the driver is publishing (it takes 1.5 s), then ask the server to stop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(started) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(started)) << server.log();
  server.process().signal(SIGTERM);
  const HttpReply reply = in_flight.get();
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.header("Connection"), "close");
  const auto code = server.process().wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("SIGTERM: shutting down"));
  EXPECT_THAT(server.log(), HasSubstr("stopped"));
  EXPECT_FALSE(herald::testing_support::tcp_port_open(server.port()));
}

TEST_F(Serve, SigintStopsAnIdleServerAt0) {
  HeraldServer server(dir_, Config());
  server.process().signal(SIGINT);
  EXPECT_EQ(server.process().wait(std::chrono::seconds(20)), 0) << server.log();
}

TEST_F(Serve, ABrokenConnectionFailsFastBeforeListening) {
  HeraldServer server(dir_, Config("", "[connections.broken]\ndriver = \"create-throws\"\n"),
                      HeraldServer::Options{{}, {}, false});
  const auto code = server.process().wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_THAT(server.log(), HasSubstr("connection `broken`"));
  EXPECT_FALSE(herald::testing_support::tcp_port_open(server.port()));
}

TEST_F(Serve, AddressInUseExits1WithOneLine) {
  HeraldServer first(dir_, Config());
  TempDir other("herald-serve-2");
  const ProcessResult r = RunProcess(
      HERALD_TEST_BINARY,
      {"--config", herald::testing_support::write_file(other / "b.toml", Config()).string(),
       "--plugin-dir", HERALD_TEST_FIXTURE_DIR, "serve",
       "--listen", "127.0.0.1:" + std::to_string(first.port())},
      RunOptions{{}, {}, other.path(), std::chrono::seconds(30)});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(first.port())));
}

TEST_F(Serve, BadServerConfigIsAConfigError) {
  const ProcessResult r = RunProcess(
      HERALD_TEST_BINARY,
      {"--config",
       herald::testing_support::write_file(dir_ / "b.toml", Config("body_limit = \"big\"\n")).string(),
       "serve"},
      RunOptions{{}, {}, dir_.path(), std::chrono::seconds(30)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("b.toml:4:14: `server.body_limit` must be an integer"));
}

// ---------------------------------------------------------------------------------------------
// herald publish --server

TEST_F(Serve, PublishDashDashServerPostsToTheRunningServer) {
  HeraldServer server(dir_, Config());
  auto herald = [&](std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env,
                    std::string in = "") {
    return RunProcess(HERALD_TEST_BINARY, args, RunOptions{std::move(env), std::move(in), {}, std::chrono::seconds(30)});
  };
  ProcessResult r = herald({"publish", "--server", server.url(), "--api-key", kKey, "t.1", "-m", "{\"n\":1}"}, {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = herald({"publish", "t.2"}, {{"HERALD_SERVER", server.url()}, {"HERALD_API_KEY", kKey}}, "line one\n\nline two\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(split_lines(read_file(dir_ / "published.log")),
              ElementsAre(LogLine("t.1", "{\"n\":1}"), LogLine("t.2", "line one"), LogLine("t.2", "line two")));

  r = herald({"publish", "--server", server.url(), "--api-key", "wrong", "t", "-m", "x"}, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("herald: server answered 401: missing or wrong API key"));
  r = herald({"publish", "--server", server.url(), "--api-key", kKey, "-c", "failing", "t", "-m", "x"}, {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("server answered 502"));
  r = herald({"publish", "--server", "http://127.0.0.1:1", "t", "-m", "x"}, {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("herald: cannot reach the server: http://127.0.0.1:1/api/publish"));
}

}  // namespace
