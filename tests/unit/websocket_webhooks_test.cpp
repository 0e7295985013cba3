// Pusher webhooks of the `websocket` driver (plugins/websocket/webhooks.hpp, README "Webhooks"):
// the signature against pusher-http-node's test vector, the body of each event kind byte for
// byte, the `webhooks` settings and their one-line errors, and the sender against local HTTP
// peers: signed batches, per-target filters, retry until a 2xx, giving up, a full queue, a dead
// target that does not hold up a live one, the flush on destruction, and logs without secrets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "../support/http_test.hpp"
#include "websocket/websocket_settings.hpp"
// The class is compiled into this test (unit tests load no plugin); no other unit test does.
#include "websocket/webhooks.cpp"  // NOLINT(bugprone-suspicious-include)

namespace {

namespace ws = herald::websocket;
namespace fmt = herald::websocket::webhook_format;
using herald::sdk::Config;
using herald::sdk::ConfigError;
using herald::testing_support::TestHttpServer;
using herald::testing_support::TestRequest;
using herald::testing_support::TestResponse;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kSecret = "webhook-secret-value";
constexpr const char* kKey = "app-key";

// ---- the signature and the body -------------------------------------------------------------

TEST(WebsocketWebhooks, SignatureMatchesPusherTestVector) {
  // pusher-http-node tests/integration/webhook.js (protocols.md section 4).
  const std::string body =
      R"({"time_ms":1403175510755,"events":[{"channel":"test_channel","name":"channel_vacated"}]})";
  EXPECT_EQ(fmt::signature("tofu", body),
            "c17257e92037cd7de407ebc1ed174ceb7b2e518db127f44411b9ffc4f5b28cc5");
  EXPECT_NE(fmt::signature("tofu", body + " "), fmt::signature("tofu", body));
}

TEST(WebsocketWebhooks, EventBodies) {
  EXPECT_EQ(fmt::channel_event("channel_occupied", "c"),
            R"({"name":"channel_occupied","channel":"c"})");
  EXPECT_EQ(fmt::channel_event("channel_vacated", "private-x"),
            R"({"name":"channel_vacated","channel":"private-x"})");
  EXPECT_EQ(fmt::member_event("member_added", "presence-x", "u"),
            R"({"name":"member_added","channel":"presence-x","user_id":"u"})");
  EXPECT_EQ(fmt::member_event("member_removed", "presence-x", "42"),
            R"({"name":"member_removed","channel":"presence-x","user_id":"42"})");
  // Private channel: no user_id. Data is a string, escaped.
  EXPECT_EQ(fmt::client_event("private-x", "client-e", R"({"a":"b\c"})", "1.2", ""),
            R"({"name":"client_event","channel":"private-x","event":"client-e",)"
            R"("data":"{\"a\":\"b\\c\"}","socket_id":"1.2"})");
  EXPECT_EQ(fmt::client_event("presence-x", "client-e", "hi\n", "3.4", "u"),
            R"({"name":"client_event","channel":"presence-x","event":"client-e","data":"hi\n",)"
            R"("socket_id":"3.4","user_id":"u"})");
  // Not UTF-8: skipped rather than sent as JSON no receiver could parse.
  EXPECT_EQ(fmt::client_event("private-x", "client-e", "\xff", "1.2", ""), "");
  EXPECT_EQ(fmt::body(1403175510755, {fmt::channel_event("channel_occupied", "a"),
                                      fmt::member_event("member_added", "presence-b", "u")}),
            R"({"time_ms":1403175510755,"events":[{"name":"channel_occupied","channel":"a"},)"
            R"({"name":"member_added","channel":"presence-b","user_id":"u"}]})");
  EXPECT_EQ(fmt::body(1, {}), R"({"time_ms":1,"events":[]})");
  // Every body is JSON.
  boost::system::error_code ec;
  boost::json::parse(fmt::client_event("private-x", "client-\"e", "\x01\"", "1.2", "u\\"), ec);
  EXPECT_FALSE(ec);
}

// ---- settings -------------------------------------------------------------------------------

// A websocket connection table as the host hands it over (see redis_settings_test.cpp).
class Table {
 public:
  Table() {
    str("listen", "127.0.0.1:6001").str("app_id", "app").str("key", kKey).str("secret", kSecret);
  }
  Table& str(std::string key, std::string value) {
    strings_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Table& json(std::string key, std::string value) {
    json_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Config config() {
    entries_.clear();
    boost::json::object whole{{"driver", "websocket"}};
    entries_.push_back({{"driver", 6}, {"websocket", 9}, 1});
    for (auto& [k, v] : strings_) {
      entries_.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
      whole[k] = v;
    }
    for (auto& [k, v] : json_) {
      entries_.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
      whole[k] = boost::json::parse(v);
    }
    whole_ = boost::json::serialize(whole);
    c_.struct_size = sizeof c_;
    c_.connection = {"websocket", 9};
    c_.json = {whole_.data(), whole_.size()};
    c_.entries = entries_.data();
    c_.entry_count = entries_.size();
    return Config(&c_);
  }

 private:
  std::vector<std::pair<std::string, std::string>> strings_, json_;
  std::vector<herald_config_entry> entries_;
  std::string whole_;
  herald_config c_{};
};

std::string config_error(Table table) {
  try {
    ws::read_settings(table.config());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WebsocketWebhooks, SettingsDefaultsAndFilters) {
  const ws::Settings none = ws::read_settings(Table().config());
  EXPECT_TRUE(none.webhooks.targets.empty());
  EXPECT_EQ(none.webhooks.timeout_ms, 5000);
  EXPECT_EQ(none.webhooks.retry_s, 60);
  EXPECT_EQ(none.webhooks.queue, 10000u);

  const ws::Settings s = ws::read_settings(
      Table()
          .json("webhooks",
                R"([{"url":"http://127.0.0.1:9/all"},)"
                R"({"url":"https://hooks.example/p?x=1","events":["member_added","client_event"]}])")
          .json("webhook_timeout_ms", "250")
          .json("webhook_retry_s", "0")
          .json("webhook_queue", "7")
          .config());
  ASSERT_EQ(s.webhooks.targets.size(), 2u);
  EXPECT_EQ(s.webhooks.targets[0].url, "http://127.0.0.1:9/all");
  EXPECT_EQ(s.webhooks.targets[0].events, ws::kAllWebhookEvents);
  EXPECT_EQ(s.webhooks.targets[1].url, "https://hooks.example/p?x=1");
  EXPECT_EQ(s.webhooks.targets[1].events,
            static_cast<unsigned>(ws::WebhookEvent::member_added) |
                static_cast<unsigned>(ws::WebhookEvent::client_event));
  EXPECT_EQ(s.webhooks.timeout_ms, 250);
  EXPECT_EQ(s.webhooks.retry_s, 0);
  EXPECT_EQ(s.webhooks.queue, 7u);
}

TEST(WebsocketWebhooks, SettingsErrorsNameTheKeyOnOneLine) {
  struct Case {
    std::string key, value, expected;
  };
  const std::vector<Case> cases = {
      {"webhooks", R"("http://x/")", "`webhooks` must be a list of tables"},
      {"webhooks", "[]", "`webhooks` is empty"},
      {"webhooks", R"(["http://x/"])", "`webhooks`[0] must be a table"},
      {"webhooks", R"([{"events":["member_added"]}])", "`webhooks`[0].url is required"},
      {"webhooks", R"([{"url":""}])", "`webhooks`[0].url is required"},
      {"webhooks", R"([{"url":"ftp://x/"}])", "must start with http:// or https://"},
      {"webhooks", R"([{"url":"http://x/"},{"url":"http:///nohost"}])",
       "`webhooks`[1].url `http:///nohost` has no host"},
      {"webhooks", R"([{"url":"http://x:99999/"}])", "has an invalid port"},
      {"webhooks", R"([{"url":"http://x/","events":[]}])", "`webhooks`[0].events is empty"},
      {"webhooks", R"([{"url":"http://x/","events":"member_added"}])",
       "`webhooks`[0].events must be a list"},
      {"webhooks", R"([{"url":"http://x/","events":["member_added","channel_exploded"]}])",
       "`webhooks`[0].events has an unknown event `channel_exploded`"},
      {"webhooks", R"([{"url":"http://x/","events":[1]}])", "a value that is not a string"},
      {"webhooks", R"([{"url":"http://x/","event":["member_added"]}])",
       "`webhooks`[0] has an unknown key `event`"},
      {"webhook_timeout_ms", "0", "`webhook_timeout_ms` is 0; expected 100..60000"},
      {"webhook_retry_s", "-1", "`webhook_retry_s` is -1; expected 0..3600"},
      {"webhook_queue", "0", "`webhook_queue` is 0; expected 1..1000000"},
      {"webhook_queue", R"("many")", "`webhook_queue` must be an integer"},
      {"webhook_url", R"("http://x/")", "unknown setting `webhook_url`"},
  };
  for (const auto& c : cases) {
    Table table;
    if (c.key != "webhooks") table.json("webhooks", R"([{"url":"http://ok/"}])");
    table.json(c.key, c.value);
    const std::string error = config_error(table);
    EXPECT_THAT(error, HasSubstr(c.expected)) << c.key << " = " << c.value;
    EXPECT_THAT(error, Not(HasSubstr("\n"))) << c.key << " = " << c.value;
    EXPECT_THAT(error, Not(HasSubstr(kSecret))) << c.key << " = " << c.value;
  }
  // A URL's user info and query (credentials, tokens) never appear in the error.
  const std::string error = config_error(
      Table().json("webhooks", R"([{"url":"http://user:hunter2@:80/p?token=t0ken"}])"));
  EXPECT_THAT(error, HasSubstr("`webhooks`[0].url"));
  EXPECT_THAT(error, Not(HasSubstr("hunter2")));
  EXPECT_THAT(error, Not(HasSubstr("t0ken")));
}

// ---- the sender -----------------------------------------------------------------------------

// A host whose log lines are kept (to check what is logged, and that no secret is).
class LogHost {
 public:
  LogHost() {
    api_.struct_size = sizeof api_;
    api_.host_abi_version = HERALD_ABI_VERSION;
    api_.ctx = this;
    api_.log = [](void* ctx, int, herald_str message) {
      auto* self = static_cast<LogHost*>(ctx);
      std::lock_guard lock(self->mutex_);
      self->lines_.emplace_back(message.data, message.size);
    };
    api_.log_enabled = [](void*, int) { return 1; };
    api_.authorize_topic = [](void*, const herald_request*, herald_str, herald_param_fn, void*,
                              herald_error*) { return 0; };
  }
  herald::sdk::Host host() const { return herald::sdk::Host(&api_); }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  std::size_t count(const std::string& text) const {
    std::size_t n = 0;
    for (const auto& l : lines())
      if (l.find(text) != std::string::npos) ++n;
    return n;
  }
  std::string all() const {
    std::string out;
    for (const auto& l : lines()) out += l + "\n";
    return out;
  }

 private:
  herald_host_api api_{};
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

ws::Settings hook_settings(std::vector<ws::WebhookTarget> targets) {
  ws::Settings s;
  s.connection = "hooks";
  s.webhooks.targets = std::move(targets);
  s.webhooks.timeout_ms = 2000;
  s.webhooks.retry_s = 10;
  return s;
}

herald::pusher::Credentials credentials() { return {"app", kKey, kSecret}; }

template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The `events` of every request's body, in order.
std::vector<boost::json::value> events_of(const std::vector<TestRequest>& requests) {
  std::vector<boost::json::value> out;
  for (const auto& r : requests) {
    const boost::json::value body = boost::json::parse(r.body);
    for (const auto& e : body.at("events").as_array()) out.push_back(e);
  }
  return out;
}

TEST(WebsocketWebhooks, DeliversSignedBatches) {
  TestHttpServer receiver([](const TestRequest&) { return TestResponse{}; });
  LogHost logs;
  const auto before = std::chrono::system_clock::now();
  {
    ws::Webhooks hooks(hook_settings({{receiver.url() + "/hook", ws::kAllWebhookEvents}}),
                       credentials(), logs.host());
    hooks.channel_occupied("presence-room");
    hooks.member_added("presence-room", "1");
    hooks.client_event("presence-room", "client-typing", R"({"t":1})", "12.34", "1");
    hooks.member_removed("presence-room", "1");
    hooks.channel_vacated("presence-room");
    ASSERT_TRUE(eventually([&] { return hooks.stats().sent == 1; })) << logs.all();
    const auto stats = hooks.stats();
    EXPECT_EQ(stats.events, 5u);
    EXPECT_EQ(stats.failed, 0u);
    EXPECT_EQ(stats.dropped, 0u);
    const std::string metrics = hooks.metrics_text();
    EXPECT_THAT(metrics, HasSubstr("# TYPE herald_ws_webhook_events_total counter\n"
                                   "herald_ws_webhook_events_total{connection=\"hooks\"} 5\n"));
    EXPECT_THAT(metrics, HasSubstr("herald_ws_webhook_sent_total{connection=\"hooks\"} 1\n"));
    EXPECT_THAT(metrics, HasSubstr("herald_ws_webhook_failed_total{connection=\"hooks\"} 0\n"));
    EXPECT_THAT(metrics, HasSubstr("herald_ws_webhook_dropped_total{connection=\"hooks\"} 0\n"));
  }
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);  // one batch: the five came within the linger
  const TestRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hook");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("X-Pusher-Key"), kKey);
  EXPECT_EQ(r.header("X-Pusher-Signature"), herald::pusher::hmac_sha256_hex(kSecret, r.body));
  const auto body = boost::json::parse(r.body).as_object();
  const auto time_ms = body.at("time_ms").as_int64();
  const auto before_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  EXPECT_GE(time_ms, before_ms);
  EXPECT_LT(time_ms, before_ms + 60000);
  EXPECT_EQ(boost::json::serialize(body.at("events")),
            R"([{"name":"channel_occupied","channel":"presence-room"},)"
            R"({"name":"member_added","channel":"presence-room","user_id":"1"},)"
            R"({"name":"client_event","channel":"presence-room","event":"client-typing",)"
            R"("data":"{\"t\":1}","socket_id":"12.34","user_id":"1"},)"
            R"({"name":"member_removed","channel":"presence-room","user_id":"1"},)"
            R"({"name":"channel_vacated","channel":"presence-room"}])");
  EXPECT_THAT(logs.all(), Not(HasSubstr(kSecret)));
}

TEST(WebsocketWebhooks, EachTargetGetsTheEventsItAskedFor) {
  TestHttpServer all([](const TestRequest&) { return TestResponse{}; });
  TestHttpServer members([](const TestRequest&) { return TestResponse{}; });
  LogHost logs;
  {
    ws::Webhooks hooks(
        hook_settings({{all.url(), ws::kAllWebhookEvents},
                       {members.url(), static_cast<unsigned>(ws::WebhookEvent::member_added) |
                                           static_cast<unsigned>(ws::WebhookEvent::member_removed)}}),
        credentials(), logs.host());
    hooks.channel_occupied("presence-a");
    hooks.member_added("presence-a", "u1");
    hooks.client_event("presence-a", "client-x", "d", "1.1", "u1");
    hooks.member_removed("presence-a", "u1");
    ASSERT_TRUE(eventually([&] { return hooks.stats().sent == 2; })) << logs.all();
    EXPECT_EQ(hooks.stats().events, 6u);  // 4 + 2
  }
  std::vector<std::string> names;
  for (const auto& e : events_of(members.requests()))
    names.emplace_back(e.at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"member_added", "member_removed"}));
  EXPECT_EQ(events_of(all.requests()).size(), 4u);
}

TEST(WebsocketWebhooks, RetriesTheSameBatchUntilA2xx) {
  std::atomic<int> calls{0};
  TestHttpServer receiver([&](const TestRequest&) {
    TestResponse r;
    r.status = ++calls <= 3 ? 500 : 200;
    return r;
  });
  LogHost logs;
  ws::Webhooks hooks(hook_settings({{receiver.url(), ws::kAllWebhookEvents}}), credentials(),
                     logs.host());
  hooks.channel_occupied("a");
  ASSERT_TRUE(eventually([&] { return hooks.stats().sent == 1; })) << logs.all();
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) {  // the very same body and signature every time
    EXPECT_EQ(r.body, requests[0].body);
    EXPECT_EQ(r.header("X-Pusher-Signature"), requests[0].header("X-Pusher-Signature"));
  }
  EXPECT_EQ(hooks.stats().failed, 0u);
  EXPECT_THAT(logs.all(), HasSubstr("HTTP 500 (attempt 1)"));
}

TEST(WebsocketWebhooks, GivesUpAfterTheRetryTimeAndLogsNoSecrets) {
  TestHttpServer receiver([](const TestRequest&) {
    TestResponse r;
    r.status = 503;
    return r;
  });
  LogHost logs;
  // User info and a query in the URL: neither may be logged.
  const std::string url = "http://user:hunter2@127.0.0.1:" + std::to_string(receiver.port()) +
                          "/hook?token=t0ken";
  ws::Settings settings = hook_settings({{url, ws::kAllWebhookEvents}});
  settings.webhooks.retry_s = 1;
  ws::Webhooks hooks(settings, credentials(), logs.host());
  hooks.channel_occupied("a");
  ASSERT_TRUE(eventually([&] { return hooks.stats().failed == 1; })) << logs.all();
  EXPECT_GE(receiver.request_count(), 2u);  // retried before giving up
  EXPECT_EQ(hooks.stats().sent, 0u);
  EXPECT_EQ(logs.count("webhooks: gave up a batch of 1 event(s) to http://127.0.0.1:"), 1u)
      << logs.all();
  EXPECT_THAT(logs.all(), HasSubstr("HTTP 503"));
  for (const char* secret : {kSecret, "hunter2", "t0ken"})
    EXPECT_THAT(logs.all(), Not(HasSubstr(secret))) << secret;
  // The next batch is a new one (the queue was not stuck behind the dead one).
  hooks.channel_vacated("a");
  ASSERT_TRUE(eventually([&] { return hooks.stats().failed == 2; })) << logs.all();
  EXPECT_EQ(logs.count("gave up a batch"), 1u) << "warned at most once per interval";
}

TEST(WebsocketWebhooks, AFullQueueDropsAndCounts) {
  TestHttpServer receiver([](const TestRequest&) {
    TestResponse r;
    r.delay = 500ms;  // the sender is busy while the queue fills
    return r;
  });
  LogHost logs;
  ws::Settings settings = hook_settings({{receiver.url(), ws::kAllWebhookEvents}});
  settings.webhooks.queue = 3;
  ws::Webhooks hooks(settings, credentials(), logs.host());
  for (int i = 0; i < 20; ++i) hooks.channel_occupied("c" + std::to_string(i));
  const auto stats = hooks.stats();
  EXPECT_EQ(stats.events + stats.dropped, 20u);
  EXPECT_GE(stats.dropped, 10u);
  EXPECT_EQ(logs.count("is full (webhook_queue = 3); dropped"), 1u) << logs.all();
  EXPECT_THAT(hooks.metrics_text(),
              HasSubstr("herald_ws_webhook_dropped_total{connection=\"hooks\"} " +
                        std::to_string(stats.dropped) + "\n"));
  // What was queued still arrives.
  ASSERT_TRUE(eventually([&] { return events_of(receiver.requests()).size() == stats.events; }))
      << logs.all();
}

TEST(WebsocketWebhooks, ADeadTargetDoesNotHoldUpALiveOne) {
  TestHttpServer live([](const TestRequest&) { return TestResponse{}; });
  std::string dead_url;
  {
    TestHttpServer dead([](const TestRequest&) { return TestResponse{}; });
    dead_url = dead.url();
  }  // closed: connection refused from now on
  LogHost logs;
  ws::Webhooks hooks(hook_settings({{dead_url, ws::kAllWebhookEvents},
                                    {live.url(), ws::kAllWebhookEvents}}),
                     credentials(), logs.host());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    hooks.channel_occupied("c" + std::to_string(i));
    std::this_thread::sleep_for(150ms);  // separate batches: the dead target keeps retrying
  }
  ASSERT_TRUE(eventually([&] { return events_of(live.requests()).size() == 5; }, 5s))
      << logs.all();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(hooks.stats().failed, 0u);  // the dead one is still within its retry time
}

TEST(WebsocketWebhooks, DestructionSendsWhatIsPendingWithinItsGrace) {
  TestHttpServer receiver([](const TestRequest&) { return TestResponse{}; });
  LogHost logs;
  {
    ws::Webhooks hooks(hook_settings({{receiver.url(), ws::kAllWebhookEvents}}), credentials(),
                       logs.host());
    for (int i = 0; i < 120; ++i) hooks.channel_vacated("c" + std::to_string(i));
  }  // at once: no linger
  const auto requests = receiver.requests();
  EXPECT_EQ(requests.size(), 3u);  // 50 + 50 + 20
  EXPECT_EQ(events_of(requests).size(), 120u);

  // A dead target: the destructor gives up within the grace, not after webhook_retry_s.
  const auto start = std::chrono::steady_clock::now();
  {
    ws::Webhooks hooks(hook_settings({{"http://127.0.0.1:1/", ws::kAllWebhookEvents}}),
                       credentials(), logs.host());
    hooks.channel_vacated("c");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(ws::Webhooks::kShutdownGraceMs + 2000));
}

TEST(WebsocketWebhooks, CallsFromManyThreadsAreAllCounted) {
  std::atomic<std::size_t> received{0};
  TestHttpServer receiver([&](const TestRequest& r) {
    received += boost::json::parse(r.body).at("events").as_array().size();
    return TestResponse{};
  });
  LogHost logs;
  ws::Webhooks hooks(hook_settings({{receiver.url(), ws::kAllWebhookEvents}}), credentials(),
                     logs.host());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&hooks, t] {
      for (int i = 0; i < 100; ++i)
        hooks.member_added("presence-" + std::to_string(t), std::to_string(i));
    });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(eventually([&] { return received.load() == 400; })) << logs.all();
  EXPECT_EQ(hooks.stats().events, 400u);
  EXPECT_EQ(hooks.stats().dropped, 0u);
}

}  // namespace
