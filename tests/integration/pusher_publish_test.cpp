// The real `pusher` plugin, loaded through herald::Runtime, publishing to a local stand-in for the
// Pusher Channels REST API that verifies signatures the way Soketi and Reverb do and enforces
// Pusher's limits (pusher_test_server.hpp): the event envelope, splitting of large topic lists,
// batching, the data size limit, errors, retries and timeouts, keep-alive and health. The
// guard's own behaviour is tested with the pusher-auth helper's tests; here only that the plugin
// composes it.
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
#include "core/errors.hpp"
#include "pusher_test_server.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::PusherTestServer;
using testing_support::TempDir;
using Clock = std::chrono::steady_clock;

const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;

class PusherPublishTest : public ::testing::Test {
 protected:
  std::string settings_for(std::uint16_t port, const std::string& secret) const {
    return "app_id = \"" + server_.options().app_id + "\"\nkey = \"" + server_.options().key +
           "\"\nsecret = \"" + secret +
           "\"\nscheme = \"http\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
           "\nretry_backoff_ms = 10\n";
  }

  std::shared_ptr<Broadcast> connect(const std::string& extra = "",
                                     std::optional<std::uint16_t> port = std::nullopt,
                                     const std::string& secret = "test-app-secret",
                                     const std::string& topics = "") {
    const fs::path config =
        dir_.write("broadcasting.toml",
                   "default = \"p\"\n" + topics + "\n[connections.p]\ndriver = \"pusher\"\n" +
                       settings_for(port.value_or(server_.port()), secret) + extra);
    RuntimeOptions options;
    options.config_file = config;
    options.plugin_dirs = {kPlugins};
    options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    options.logger = std::make_shared<spdlog::logger>("pusher-test");  // no sinks
    runtime_ = std::make_unique<Runtime>(std::move(options));
    return runtime_->manager().connection("p");
  }

  static std::string failure(Broadcast& p, const std::vector<std::string>& topics,
                             const std::vector<std::string>& messages) {
    try {
      p.publish(topics, messages);
    } catch (const DriverException& e) {
      return e.what();
    }
    return {};
  }

  static std::vector<std::string> topics(int n, const std::string& prefix = "ch-") {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  // The endpoint ("events"/"batch_events") and event count of each request, in order.
  std::vector<std::string> request_shapes() const {
    std::vector<std::string> out;
    for (const auto& r : server_.requests()) {
      const auto body = boost::json::parse(r.body).as_object();
      const std::string path = r.target.substr(0, r.target.find('?'));
      if (path.ends_with("/batch_events"))
        out.push_back("batch:" + std::to_string(body.at("batch").as_array().size()));
      else
        out.push_back("events:" + std::to_string(body.at("channels").as_array().size()));
    }
    return out;
  }

  TempDir dir_;
  PusherTestServer server_;
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(PusherPublishTest, OneMessageIsOneSignedEventsRequest) {
  auto p = connect();
  p->publish({"orders", "audit"}, R"({"id":42})");
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0].target,
              ::testing::StartsWith("/apps/4242/events?auth_key=test-app-key&"));
  EXPECT_THAT(requests[0].target,
              ::testing::MatchesRegex(".*auth_version=1.0&body_md5=[0-9a-f]{32}&"
                                      "auth_signature=[0-9a-f]{64}"));
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].body,
            R"({"name":"message","data":"{\"id\":42}","channels":["orders","audit"]})");
  EXPECT_THAT(server_.refusals(), ElementsAre());
  EXPECT_THAT(server_.deliveries(),
              ElementsAre(R"(orders|message|{"id":42})", R"(audit|message|{"id":42})"));
}

TEST_F(PusherPublishTest, TheEventEnvelopeChoosesTheEventName) {
  auto p = connect("event = \"App\\\\Events\\\\Notice\"\n");
  p->publish("orders", R"({"event":"order.shipped","data":{"id":7}})");
  p->publish("orders", R"({"event":"text","data":"already a string"})");
  p->publish("orders", "plain text");
  p->publish("orders", R"({"no":"event"})");
  EXPECT_THAT(server_.deliveries(),
              ElementsAre(R"(orders|order.shipped|{"id":7})", "orders|text|already a string",
                          R"(orders|App\Events\Notice|plain text)",
                          R"(orders|App\Events\Notice|{"no":"event"})"));
}

TEST_F(PusherPublishTest, MoreThan100TopicsAreSplitIntoSeveralEvents) {
  auto p = connect();
  const auto many = topics(250);
  p->publish(many, "hello");
  EXPECT_THAT(request_shapes(), ElementsAre("events:100", "events:100", "events:50"));
  EXPECT_THAT(server_.refusals(), ElementsAre());
  std::vector<std::string> expected;
  for (const auto& t : many) expected.push_back(t + "|message|hello");
  EXPECT_THAT(server_.deliveries(), ElementsAreArray(expected));
}

TEST_F(PusherPublishTest, SeveralMessagesGoInBatchesOfTen) {
  auto p = connect();
  p->publish("orders", std::vector<std::string>{"1", "2", "3", "4", "5"});
  EXPECT_THAT(request_shapes(), ElementsAre("batch:5"));
  EXPECT_THAT(server_.deliveries(),
              ElementsAre("orders|message|1", "orders|message|2", "orders|message|3",
                          "orders|message|4", "orders|message|5"));
}

TEST_F(PusherPublishTest, TopicsTimesMessagesAreSplitInBatchesInMessageOrder) {
  auto p = connect();
  p->publish(std::vector<std::string>{"a", "b", "c"}, topics(7, "m"));  // 21 events
  EXPECT_THAT(request_shapes(), ElementsAre("batch:10", "batch:10", "batch:1"));
  const auto d = server_.deliveries();
  ASSERT_EQ(d.size(), 21u);
  EXPECT_EQ(d[0], "a|message|m0");
  EXPECT_EQ(d[2], "c|message|m0");
  EXPECT_EQ(d[3], "a|message|m1");
  EXPECT_EQ(d[20], "c|message|m6");
}

TEST_F(PusherPublishTest, ManyTopicsAndFewMessagesUseFewerEventsRequests) {
  auto p = connect();
  p->publish(topics(150), std::vector<std::string>{"x", "y"});  // 300 batch events = 30 requests
  EXPECT_THAT(request_shapes(), ElementsAre("events:100", "events:50", "events:100", "events:50"));
  EXPECT_EQ(server_.events().size(), 300u);
}

TEST_F(PusherPublishTest, OversizeDataIsRefusedBeforeSending) {
  auto p = connect();
  const std::string big(10241, 'x');
  EXPECT_THAT(failure(*p, {"orders"}, {"small", big}),
              HasSubstr("publish failed: message 2: event data is 10241 bytes, over the "
                        "10240-byte limit (`max_data_bytes`)"));
  EXPECT_EQ(server_.request_count(), 0u) << "nothing of the call may be sent";
  // Exactly at the limit is fine; the limit counts the data string, not the envelope.
  p->publish("orders", std::string(10240, 'y'));
  p->publish("orders", R"({"event":"e","data":")" + std::string(10240, 'z') + R"("})");
  EXPECT_EQ(server_.events().size(), 2u);
  EXPECT_THAT(server_.refusals(), ElementsAre());
}

TEST_F(PusherPublishTest, TheLimitIsASettingAndTheServerStillEnforcesItsOwn) {
  auto p = connect("max_data_bytes = 20000\n");
  EXPECT_THAT(failure(*p, {"orders"}, {std::string(15000, 'x')}),
              HasSubstr("the Pusher API answered HTTP 413 to POST http://127.0.0.1:"));
  ASSERT_EQ(server_.refusals().size(), 1u);
  EXPECT_EQ(server_.refusals()[0].first, 413);
}

TEST_F(PusherPublishTest, InvalidChannelNamesAreRefusedBeforeSending) {
  auto p = connect();
  EXPECT_THAT(failure(*p, {"ok", "bad channel"}, {"x"}),
              HasSubstr("topic 2 `bad channel` is not a Pusher channel name"));
  EXPECT_THAT(failure(*p, {std::string(201, 'a')}, {"x"}),
              HasSubstr("is not a Pusher channel name"));
  EXPECT_EQ(server_.request_count(), 0u);
  p->publish({"#server-to-user-1", "private-a_b=c@d,e.f;g-h"}, "x");  // every allowed character
  EXPECT_EQ(server_.events().size(), 2u);
}

TEST_F(PusherPublishTest, AWrongSecretIsRefusedAndNeverShown) {
  auto p = connect("", std::nullopt, "the-wrong-secret");
  const std::string error = failure(*p, {"orders"}, {"x"});
  EXPECT_THAT(error, AllOf(HasSubstr("the Pusher API answered HTTP 401 to POST http://127.0.0.1:" +
                                     std::to_string(server_.port()) +
                                     "/apps/4242/events: The auth "
                                     "signature is invalid."),
                           HasSubstr("(check `app_id`, `key` and `secret`)"),
                           Not(HasSubstr("the-wrong-secret")), Not(HasSubstr("auth_signature")),
                           Not(HasSubstr("?"))));
  EXPECT_EQ(server_.request_count(), 1u) << "an answered request is never retried";
  EXPECT_THAT(p->health_problem().value_or(""), HasSubstr("HTTP 401"));
}

TEST_F(PusherPublishTest, AServerErrorFailsWithItsMessageAndSaysWhatWasDelivered) {
  auto p = connect();
  server_.answer_status(500, "Internal error\n", 1);  // the first request succeeds
  const std::string error = failure(*p, topics(150), {"x"});
  EXPECT_THAT(error, AllOf(HasSubstr("HTTP 500"), HasSubstr(": Internal error"),
                           HasSubstr("(1 of 2 requests had already been delivered)")));
  EXPECT_EQ(server_.events().size(), 100u);
  EXPECT_THAT(p->health_problem().value_or(""), HasSubstr("HTTP 500"));
  server_.answer_status(0);
  p->publish("again", "x");
  EXPECT_EQ(p->health_problem(), std::nullopt);
}

TEST_F(PusherPublishTest, SequentialPublishesReuseOneConnection) {
  auto p = connect();
  for (int i = 0; i < 25; ++i) p->publish("orders", std::to_string(i));
  EXPECT_EQ(server_.events().size(), 25u);
  EXPECT_EQ(server_.connection_count(), 1u);
}

TEST_F(PusherPublishTest, ConcurrentPublishesAllArrive) {
  auto p = connect();
  constexpr int kThreads = 6, kEach = 15;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          p->publish(std::string("t").append(std::to_string(t)), std::to_string(i));
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const auto d = server_.deliveries();
  EXPECT_EQ(std::set<std::string>(d.begin(), d.end()).size(), std::size_t(kThreads * kEach));
  EXPECT_LE(server_.connection_count(), std::size_t(kThreads));
}

TEST_F(PusherPublishTest, PeerDownFailsAfterBoundedRetries) {
  const std::uint16_t port = testing_support::free_tcp_port();
  auto p = connect("retries = 2\n", port);
  const auto start = Clock::now();
  const std::string error = failure(*p, {"orders"}, {"x"});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT(error, AllOf(HasSubstr("cannot reach the Pusher API: POST http://127.0.0.1:" +
                                     std::to_string(port) + "/apps/4242/events: "),
                           HasSubstr("(3 attempts)"), Not(HasSubstr("auth_signature")),
                           Not(HasSubstr("test-app-secret"))));
  EXPECT_THAT(p->health_problem().value_or(""), HasSubstr("(3 attempts)"));
}

TEST_F(PusherPublishTest, ASlowPeerTimesOutWithoutARetryThatCouldDuplicate) {
  auto p = connect("timeout_ms = 300\nretries = 3\n");
  server_.delay_replies(std::chrono::seconds(5));
  const auto start = Clock::now();
  EXPECT_THAT(failure(*p, {"orders"}, {"x"}),
              AllOf(HasSubstr("cannot reach the Pusher API"), HasSubstr("timed out")));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(server_.request_count(), 1u);
}

TEST_F(PusherPublishTest, RetryUnansweredTradesDuplicatesForDelivery) {
  auto p = connect("timeout_ms = 300\nretries = 1\nretry_unanswered = true\n");
  server_.delay_replies(std::chrono::seconds(5), 1);
  p->publish("orders", "x");
  EXPECT_EQ(server_.request_count(), 2u);
  EXPECT_THAT(server_.deliveries(), ElementsAre("orders|message|x", "orders|message|x"))
      << "Pusher has no idempotency key: the documented at-least-once trade-off";
}

TEST_F(PusherPublishTest, ThePluginIsAlsoTheGuard) {
  auto p = connect("", std::nullopt, "test-app-secret", R"(
[[authorize.topics]]
pattern = "orders.{id}"
rule = { allow = true }
)");
  Guard* guard = p->guard();
  ASSERT_NE(guard, nullptr);
  AuthRequest request;
  request.method = "POST";
  request.path = "/broadcasting/auth";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = "socket_id=123.456&channel_name=private-orders.7";
  const AuthorizationStatus status = guard->authorize(request);
  EXPECT_TRUE(status.success());
  ASSERT_TRUE(status.has_response());
  const std::string expected =
      "test-app-key:" + PusherTestServer::hmac("test-app-secret", "123.456:private-orders.7");
  EXPECT_EQ(boost::json::parse(status.response()->body).at("auth").as_string(), expected);
}

}  // namespace
}  // namespace herald
