// The real `centrifugo` plugin, loaded through herald::Runtime, against a local stand-in for
// Centrifugo's server HTTP API (centrifugo_test_server.hpp, which rejects whatever the real API
// would): request shapes, keep-alive, concurrency, Centrifugo's errors, retries and timeouts,
// health, and the optional subscribe-proxy guard.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "background_process.hpp"
#include "broadcast/broadcast.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "centrifugo_test_server.hpp"
#include "core/errors.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;
using testing_support::CentrifugoTestServer;
using testing_support::TempDir;
using Clock = std::chrono::steady_clock;

const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;

class CentrifugoTest : public ::testing::Test {
 protected:
  // A runtime whose connection `cf` points at `url`, with `extra` settings appended.
  std::shared_ptr<Broadcast> connect(const std::string& url, const std::string& extra = "",
                                     const std::string& api_key = "test-api-key",
                                     const std::string& topics = "") {
    const fs::path config = dir_.write("broadcasting.toml", "default = \"cf\"\n" + topics + R"(
[connections.cf]
driver = "centrifugo"
url = ")" + url + R"("
api_key = ")" + api_key + R"("
retry_backoff_ms = 10
)" + extra);
    RuntimeOptions options;
    options.config_file = config;
    options.plugin_dirs = {kPlugins};
    options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    options.logger = std::make_shared<spdlog::logger>("centrifugo-test");  // no sinks
    runtime_ = std::make_unique<Runtime>(std::move(options));
    return runtime_->manager().connection("cf");
  }

  // The publish's error message (empty when it succeeded).
  static std::string failure(Broadcast& cf, std::vector<std::string_view> topics,
                             std::vector<std::string_view> messages) {
    try {
      cf.publish(Texts(topics), Texts(messages));
    } catch (const DriverException& e) {
      return e.what();
    }
    return {};
  }

  static json::object body_of(const testing_support::TestRequest& request) {
    return json::parse(request.body).as_object();
  }

  TempDir dir_;
  CentrifugoTestServer server_;
  std::unique_ptr<Runtime> runtime_;
};

// ---- request shapes ------------------------------------------------------------------------

TEST_F(CentrifugoTest, OneTopicOneMessageIsOnePublishWithTheApiKey) {
  auto cf = connect(server_.api_url());
  cf->publish("news", R"({"title":"hello"})");

  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/api/publish");
  EXPECT_EQ(requests[0].header("X-API-Key"), "test-api-key");
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  const json::object body = body_of(requests[0]);
  EXPECT_EQ(body.at("channel"), "news");
  EXPECT_EQ(json::serialize(body.at("data")), R"({"title":"hello"})");
  EXPECT_EQ(body.at("skip_history"), true);  // Spiral's driver skips history too
  EXPECT_THAT(std::string(body.at("idempotency_key").as_string()), MatchesRegex("[0-9a-f]{32}-0"));
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("news", R"({"title":"hello"})")));
}

TEST_F(CentrifugoTest, AMessageThatIsJsonIsSentAsDataVerbatim) {
  auto cf = connect(server_.api_url());
  const std::string message = R"({ "b" : [1, 2.50, "x\u00e9"], "n": null })";
  cf->publish("news", message);
  cf->publish("news", "42");
  cf->publish("news", R"("already a JSON string")");
  cf->publish("news", "true");
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 4u);
  // Byte for byte: no re-encoding of the application's JSON.
  EXPECT_THAT(requests[0].body, HasSubstr(R"("data":)" + message));
  EXPECT_THAT(requests[1].body, HasSubstr(R"("data":42)"));
  EXPECT_THAT(server_.delivered(),
              ElementsAre(Pair("news", R"({"b":[1,2.5E0,"xé"],"n":null})"), Pair("news", "42"),
                          Pair("news", R"("already a JSON string")"), Pair("news", "true")));
}

TEST_F(CentrifugoTest, AnyOtherMessageIsSentAsAJsonString) {
  auto cf = connect(server_.api_url());
  cf->publish("news", "plain text");
  cf->publish("news", "{not json");
  cf->publish("news", "quote \" backslash \\ newline \n tab \t bell \x07 é");
  cf->publish("news", "1 2");
  EXPECT_THAT(
      server_.delivered(),
      ElementsAre(Pair("news", R"("plain text")"), Pair("news", R"("{not json")"),
                  Pair("news", R"("quote \" backslash \\ newline \n tab \t bell \u0007 é")"),
                  Pair("news", R"("1 2")")));
}

TEST_F(CentrifugoTest, SeveralTopicsAreOneBroadcast) {
  auto cf = connect(server_.api_url());
  cf->publish({"a", "b", "c"}, "hi");
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/api/broadcast");
  EXPECT_EQ(json::serialize(body_of(requests[0]).at("channels")), R"(["a","b","c"])");
  EXPECT_THAT(server_.delivered(),
              ElementsAre(Pair("a", R"("hi")"), Pair("b", R"("hi")"), Pair("c", R"("hi")")));
}

TEST_F(CentrifugoTest, SeveralMessagesAreOneBatchRequestInOrder) {
  auto cf = connect(server_.api_url());
  const std::vector<std::string> messages = {"one", R"({"n":2})", "three"};
  cf->publish("news", messages);
  ASSERT_EQ(server_.request_count(), 1u);
  auto requests = server_.requests();
  EXPECT_EQ(requests[0].target, "/api/batch");
  const json::array commands = body_of(requests[0]).at("commands").as_array();
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_TRUE(commands[0].as_object().contains("publish"));
  EXPECT_NE(commands[0].at("publish").at("idempotency_key"),
            commands[1].at("publish").at("idempotency_key"));
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("news", R"("one")"), Pair("news", R"({"n":2})"),
                                               Pair("news", R"("three")")));

  // Several topics and several messages: one batch of broadcast commands (Spiral sends one
  // broadcast per message with all topics; here they travel in one request).
  cf->publish({"a", "b"}, std::vector<std::string>{"x", "y"});
  requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/api/batch");
  const json::array broadcasts = body_of(requests[1]).at("commands").as_array();
  ASSERT_EQ(broadcasts.size(), 2u);
  EXPECT_EQ(json::serialize(broadcasts[1].at("broadcast").at("channels")), R"(["a","b"])");
  const auto delivered = server_.delivered();
  EXPECT_THAT(std::vector(delivered.begin() + 3, delivered.end()),
              ElementsAre(Pair("a", R"("x")"), Pair("b", R"("x")"), Pair("a", R"("y")"),
                          Pair("b", R"("y")")));
}

TEST_F(CentrifugoTest, HistoryTagsAndIdempotencyKeysAreSettings) {
  auto cf = connect(server_.api_url(), R"(
skip_history = false
idempotency_keys = false
tags = { source = "herald", kind = "test" }
)");
  cf->publish("news", "hi");
  const json::object body = body_of(server_.requests().at(0));
  EXPECT_FALSE(body.contains("skip_history"));
  EXPECT_FALSE(body.contains("idempotency_key"));
  const auto publications = server_.publications();
  ASSERT_EQ(publications.size(), 1u);
  EXPECT_THAT(publications[0].tags, ElementsAre(Pair("kind", "test"), Pair("source", "herald")));
}

TEST_F(CentrifugoTest, ZeroMessagesSendNothing) {
  auto cf = connect(server_.api_url());
  cf->publish("news", std::vector<std::string>{});
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_F(CentrifugoTest, TextThatIsNotUtf8IsRefusedBeforeSending) {
  auto cf = connect(server_.api_url());
  EXPECT_THAT(failure(*cf, {"news"}, {"ok", "bad \xff byte"}),
              HasSubstr("message 2 is neither JSON nor valid UTF-8 text"));
  EXPECT_THAT(failure(*cf, {"news", "bad\xc3"}, {"ok"}), HasSubstr("topic 2 is not valid UTF-8"));
  EXPECT_EQ(server_.request_count(), 0u);
}

// ---- connections -----------------------------------------------------------------------------

TEST_F(CentrifugoTest, SequentialPublishesReuseOneConnection) {
  auto cf = connect(server_.api_url());
  for (int i = 0; i < 30; ++i) cf->publish("news", std::to_string(i));
  EXPECT_EQ(server_.publications().size(), 30u);
  EXPECT_EQ(server_.connection_count(), 1u);
}

TEST_F(CentrifugoTest, ConcurrentPublishesAllArriveOverAFewConnections) {
  auto cf = connect(server_.api_url());
  constexpr int kThreads = 6, kEach = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          cf->publish(std::string("t").append(std::to_string(t)), std::to_string(i));
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& d : server_.delivered()) seen.insert(d);
  EXPECT_EQ(seen.size(), std::size_t(kThreads * kEach));
  EXPECT_LE(server_.connection_count(), std::size_t(kThreads));
}

// ---- Centrifugo's errors ----------------------------------------------------------------------

TEST_F(CentrifugoTest, AnErrorInAnHttp200BodyFailsThePublishWithItsCodeAndMessage) {
  auto cf = connect(server_.api_url());
  server_.fail_channel("news", 102, "unknown channel");
  EXPECT_EQ(failure(*cf, {"news"}, {"hi"}),
            "connection `cf` (driver `centrifugo`): publish failed: Centrifugo error 102 (unknown "
            "channel) from POST " +
                server_.api_url() + "/publish");
  EXPECT_EQ(server_.request_count(), 1u) << "an answered request is never retried";
  EXPECT_EQ(cf->health_problem(), std::nullopt) << "the peer answered: still healthy";
}

TEST_F(CentrifugoTest, PerChannelErrorsOfABroadcastFailThePublish) {
  auto cf = connect(server_.api_url());
  server_.fail_channel("b", 102, "unknown channel");
  EXPECT_THAT(failure(*cf, {"a", "b", "c"}, {"hi"}),
              HasSubstr("Centrifugo failed 1 of 3 channels of a broadcast; first: channel `b`: "
                        "error 102 (unknown channel)"));
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("a", R"("hi")"), Pair("c", R"("hi")")));
}

TEST_F(CentrifugoTest, PerReplyErrorsOfABatchFailThePublish) {
  auto cf = connect(server_.api_url());
  server_.fail_channel("b", 102, "unknown channel");
  EXPECT_THAT(failure(*cf, {"b"}, {"1", "2", "3"}),
              HasSubstr("Centrifugo failed 3 of 3 messages of a batch; first: message 1: error 102 "
                        "(unknown channel)"));
  EXPECT_THAT(failure(*cf, {"a", "b"}, {"x", "y"}),
              HasSubstr("Centrifugo failed 2 of 2 messages of a batch; first: message 1: channel "
                        "`b`: error 102 (unknown channel)"));
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("a", R"("x")"), Pair("a", R"("y")")));
}

TEST_F(CentrifugoTest, AWholeCallErrorFailsThePublish) {
  auto cf = connect(server_.api_url());
  server_.fail_calls(100, "internal server error");
  EXPECT_THAT(failure(*cf, {"a", "b"}, {"x"}),
              HasSubstr("Centrifugo error 100 (internal server error) from POST"));
  EXPECT_EQ(server_.publications().size(), 0u);
}

TEST_F(CentrifugoTest, AWrongApiKeyIsNamedButNeverShown) {
  auto cf = connect(server_.api_url(), "", "wrong-secret-key");
  const std::string error = failure(*cf, {"news"}, {"hi"});
  EXPECT_THAT(error, AllOf(HasSubstr("Centrifugo refused the API key (HTTP 401 from POST"),
                           HasSubstr("check `api_key`"), Not(HasSubstr("wrong-secret-key"))));
  const auto problem = cf->health_problem();
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(*problem, AllOf(HasSubstr("HTTP 401"), Not(HasSubstr("wrong-secret-key"))));
}

TEST_F(CentrifugoTest, AnHttpErrorStatusFailsThePublishWithoutRetry) {
  auto cf = connect(server_.api_url());
  server_.answer_status(503, "overloaded\nplease retry");
  EXPECT_THAT(failure(*cf, {"news"}, {"hi"}),
              HasSubstr("Centrifugo answered HTTP 503 to POST " + server_.api_url() +
                        "/publish: overloaded please retry"));
  EXPECT_EQ(server_.request_count(), 1u);
  EXPECT_THAT(cf->health_problem().value_or(""), HasSubstr("HTTP 503"));

  // Healthy again once a request succeeds.
  server_.reset_behaviour();
  cf->publish("news", "again");
  EXPECT_EQ(cf->health_problem(), std::nullopt);
}

// ---- transport failures --------------------------------------------------------------------

TEST_F(CentrifugoTest, PeerDownFailsAfterBoundedRetries) {
  const std::uint16_t port = testing_support::free_tcp_port();  // nothing listens there
  auto cf =
      connect("http://127.0.0.1:" + std::to_string(port) + "/api", "retries = 2\n", "down-secret");
  EXPECT_EQ(cf->health_problem(), std::nullopt) << "no request yet: nothing known to be wrong";
  const auto start = Clock::now();
  const std::string error = failure(*cf, {"news"}, {"hi"});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT(error, AllOf(HasSubstr("cannot reach Centrifugo: POST http://127.0.0.1:" +
                                     std::to_string(port) + "/api/publish: "),
                           HasSubstr("(3 attempts)"), Not(HasSubstr("down-secret"))));
  EXPECT_THAT(cf->health_problem().value_or(""), HasSubstr("(3 attempts)"));
}

TEST_F(CentrifugoTest, ASlowPeerTimesOutAndTheRetryIsDeduplicatedByCentrifugo) {
  auto cf = connect(server_.api_url(), "timeout_ms = 300\nretries = 1\n");
  server_.delay_replies(std::chrono::seconds(3),
                        1);  // the first request is processed, answered late
  const auto start = Clock::now();
  cf->publish("news", "once");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(body_of(requests[0]).at("idempotency_key"), body_of(requests[1]).at("idempotency_key"));
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("news", R"("once")")));
}

TEST_F(CentrifugoTest, ASlowPeerFailsInBoundedTime) {
  auto cf = connect(server_.api_url(), "timeout_ms = 300\nretries = 1\n");
  server_.delay_replies(std::chrono::seconds(5));
  const auto start = Clock::now();
  EXPECT_THAT(failure(*cf, {"news"}, {"hi"}),
              AllOf(HasSubstr("cannot reach Centrifugo"), HasSubstr("timed out"),
                    HasSubstr("(2 attempts)")));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(server_.request_count(), 2u);
}

TEST_F(CentrifugoTest, WithoutIdempotencyKeysAnUnansweredRequestIsNotRetried) {
  auto cf = connect(server_.api_url(), "timeout_ms = 300\nretries = 3\nidempotency_keys = false\n");
  server_.delay_replies(std::chrono::seconds(5));
  EXPECT_THAT(failure(*cf, {"news"}, {"hi"}), HasSubstr("timed out"));
  EXPECT_EQ(server_.request_count(), 1u) << "a retry could publish twice";
}

// ---- the subscribe proxy (optional guard) ------------------------------------------------------

constexpr const char* kTopicRules = R"(
[[authorize.topics]]
pattern = "chat:{room}"
rule = { header = "X-Room", equals = "{room}" }
)";

AuthRequest proxy_request(const std::string& body, const std::string& room) {
  AuthRequest r;
  r.method = "POST";
  r.path = "/centrifugo/subscribe";
  r.headers = {{"Content-Type", "application/json"}, {"X-Room", room}};
  r.body = body;
  r.remote_address = "127.0.0.1:40000";
  return r;
}

const std::string kSubscribe =
    R"({"client":"9336a229-2400-4ebc-8c50-0a643d22e8a0","transport":"websocket",)"
    R"("protocol":"json","encoding":"json","user":"56","channel":"chat:lobby"})";

TEST_F(CentrifugoTest, SubscribeProxyAllowsWhatTheTopicRulesAllow) {
  auto cf = connect(server_.api_url(), "subscribe_proxy = true\n", "test-api-key", kTopicRules);
  Guard* guard = cf->guard();
  ASSERT_NE(guard, nullptr);
  const AuthorizationStatus status = guard->authorize(proxy_request(kSubscribe, "lobby"));
  EXPECT_TRUE(status.success());
  EXPECT_THAT(status.topics().value_or(std::vector<std::string>{}), ElementsAre("chat:lobby"));
  EXPECT_EQ(json::parse(status.attributes()), json::parse(R"({"room":"lobby","user":"56"})"));
  ASSERT_TRUE(status.has_response());
  EXPECT_EQ(status.response()->status, 200);
  EXPECT_EQ(status.response()->body, R"({"result":{}})");
  EXPECT_THAT(status.response()->headers, ElementsAre(Pair("Content-Type", "application/json")));
}

TEST_F(CentrifugoTest, SubscribeProxyDeniesWithCentrifugosPermissionDenied) {
  auto cf = connect(server_.api_url(), "subscribe_proxy = true\n", "test-api-key", kTopicRules);
  Guard* guard = cf->guard();
  ASSERT_NE(guard, nullptr);
  for (const auto& [body, room] :
       {std::pair{kSubscribe, std::string("kitchen")},  // the rule denies
        std::pair{std::string(R"({"user":"56","channel":"other:lobby"})"),
                  std::string("lobby")}}) {  // no pattern matches
    const AuthorizationStatus status = guard->authorize(proxy_request(body, room));
    EXPECT_FALSE(status.success());
    ASSERT_TRUE(status.has_response());
    EXPECT_EQ(status.response()->status, 200);
    EXPECT_EQ(status.response()->body, R"({"error":{"code":403,"message":"permission denied"}})");
  }
  const AuthorizationStatus bad = guard->authorize(proxy_request("channel_name=x", "x"));
  EXPECT_FALSE(bad.success());
  ASSERT_TRUE(bad.has_response());
  EXPECT_EQ(bad.response()->status, 400);
}

TEST_F(CentrifugoTest, WithoutSubscribeProxyItAnswersLikeANonGuard) {
  auto cf = connect(server_.api_url(), "", "test-api-key", kTopicRules);
  Guard* guard = cf->guard();
  ASSERT_NE(guard, nullptr);  // the plugin has the entry point; the setting decides
  const AuthorizationStatus status = guard->authorize(proxy_request(kSubscribe, "kitchen"));
  EXPECT_TRUE(status.success());
  EXPECT_FALSE(status.topics().has_value());
  EXPECT_FALSE(status.has_response());
}

}  // namespace
}  // namespace herald
