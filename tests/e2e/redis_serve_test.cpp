// The `redis` driver inside `herald serve`: POST /api/publish reaches a Redis subscriber,
// GET /healthz reports the connection down (with the driver's reason) while Redis is killed and
// up again once it is back, and a publish while Redis is down is a 502 with a clear error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "herald_server.hpp"
#include "http_test.hpp"
#include "redis_server.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_support::HeraldServer;
using testing_support::HttpReply;
using testing_support::RedisServer;
using testing_support::TempDir;

const std::string kPlugins = HERALD_TEST_PLUGIN_DIR;

std::string Config(const RedisServer& redis) {
  return "default = \"redis\"\nplugin_dirs = [\"" + kPlugins +
         "\"]\n\n[server]\napi_key = \"test-key\"\nhealth_refresh_ms = 100\n\n"
         "[connections.redis]\ndriver = \"redis\"\n"
         "url = \"redis://:s3cret@127.0.0.1:" +
         std::to_string(redis.port()) + "/0\"\ntimeout_ms = 2000\n";
}

boost::json::value Json(const HttpReply& reply) { return boost::json::parse(reply.body); }

// /healthz answers from a cache refreshed in the background (every 100 ms here): the first
// answer with `status`, or the last one after 10 s.
HttpReply HealthOnceItIs(HeraldServer& server, int status) {
  HttpReply health = server.get("/healthz");
  for (auto until = std::chrono::steady_clock::now() + 10s;
       health.status != status && std::chrono::steady_clock::now() < until;
       health = server.get("/healthz"))
    std::this_thread::sleep_for(50ms);
  return health;
}

TEST(RedisServe, PublishApiHealthAndRecovery) {
  TempDir dir("herald-redis-serve");
  RedisServer redis(RedisServer::Options().args({"--requirepass", "s3cret"}).password("s3cret"));
  HeraldServer server(dir, Config(redis));
  const testing_support::Headers auth{{"Authorization", "Bearer test-key"},
                                      {"Content-Type", "application/json"}};

  // Up: healthy, and a publish reaches a subscriber.
  HttpReply health = server.get("/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(Json(health).at("connections").at("redis").at("status").as_string(), "up")
      << health.body;
  {
    auto sub = redis.client();
    sub->subscribe({"orders"});
    const HttpReply r =
        server.post("/api/publish", R"({"topic":"orders","messages":["one",{"id":2}]})", auth);
    EXPECT_EQ(r.status, 200) << r.body;
    const auto got = sub->messages(2, 10s);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, "one");
    EXPECT_EQ(got[1].payload, R"({"id":2})");
  }

  // Down: /healthz says why, a publish is a 502 with the driver's reason.
  redis.kill();
  health = HealthOnceItIs(server, 503);
  EXPECT_EQ(health.status, 503) << health.body;
  const boost::json::value down = Json(health);
  const auto& entry = down.at("connections").at("redis");
  EXPECT_EQ(entry.at("status").as_string(), "down");
  EXPECT_EQ(entry.at("error").as_string(),
            "cannot connect to Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                ": Connection refused");
  const HttpReply failed =
      server.post("/api/publish", R"({"topic":"orders","message":"lost"})", auth);
  EXPECT_EQ(failed.status, 502) << failed.body;
  EXPECT_THAT(std::string(Json(failed).at("error").as_string()),
              HasSubstr("cannot connect to Redis at 127.0.0.1:" + std::to_string(redis.port())));

  // Back: healthy again and publishing works without restarting herald.
  redis.start();
  health = HealthOnceItIs(server, 200);
  EXPECT_EQ(health.status, 200) << health.body;
  auto sub = redis.client();
  sub->subscribe({"orders"});
  const HttpReply r = server.post("/api/publish", R"({"topic":"orders","message":"back"})", auth);
  EXPECT_EQ(r.status, 200) << r.body;
  const auto got = sub->messages(1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "back");

  // The password is in the config, never in what the server says or logs.
  EXPECT_THAT(server.log(), ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(failed.body + health.body, ::testing::Not(HasSubstr("s3cret")));
}

}  // namespace
}  // namespace herald
