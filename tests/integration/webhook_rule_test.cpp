// The `webhook` topic rule against a real local HTTP server: the app decides (2xx allows);
// anything else, an unreachable app or a timeout denies.
#include <chrono>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "auth/topic_rules.hpp"
#include "background_process.hpp"
#include "http_test.hpp"

namespace {

using herald::testing_support::TestHttpServer;
using herald::testing_support::TestRequest;
using herald::testing_support::TestResponse;

TestResponse Reply(int status, std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
  TestResponse r;
  r.status = status;
  r.body = "{}";
  r.delay = delay;
  return r;
}

herald::TopicCallback WebhookRule(const std::string& rule_toml) {
  herald::TopicRuleConfig config;
  config.pattern = "order.{uuid}";
  config.rule = *toml::parse("rule = " + rule_toml)["rule"].as_table();
  return herald::make_topic_rule(config);
}

herald::TopicMatch Match(const std::string& uuid) {
  herald::TopicMatch m;
  m.topic = "order." + uuid;
  m.params = {{"uuid", uuid}};
  return m;
}

herald::AuthRequest Request() {
  herald::AuthRequest r;
  r.method = "POST";
  r.path = "/broadcasting/auth";
  r.headers = {{"Cookie", "session=abc"}, {"X-User", "7"}, {"x-user", "8"}};
  return r;
}

TEST(WebhookRule, PostsTopicParamsAndHeadersAndAllowsOn2xx) {
  TestHttpServer app([](const TestRequest& r) {
    const auto body = boost::json::parse(r.body);
    const bool owner = body.at("params").at("uuid") == "7";
    return Reply(owner ? 204 : 403);
  });
  const auto rule = WebhookRule("{ webhook = \"" + app.url() + "/authorize\" }");
  EXPECT_TRUE(rule(Request(), Match("7")));
  EXPECT_FALSE(rule(Request(), Match("8")));
  const auto requests = app.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/authorize");
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(boost::json::parse(requests[0].body),
            boost::json::parse(R"({"topic":"order.7","params":{"uuid":"7"},
              "headers":{"cookie":"session=abc","x-user":"7, 8"}})"));
}

TEST(WebhookRule, ErrorsAndRedirectsDeny) {
  for (int status : {301, 400, 401, 404, 500, 503}) {
    TestHttpServer app([status](const TestRequest&) { return Reply(status); });
    EXPECT_FALSE(WebhookRule("{ webhook = \"" + app.url() + "/a\" }")(Request(), Match("1"))) << status;
  }
}

TEST(WebhookRule, UnreachableAppDenies) {
  const auto port = herald::testing_support::free_tcp_port();
  EXPECT_FALSE(WebhookRule("{ webhook = \"http://127.0.0.1:" + std::to_string(port) + "/a\" }")(
      Request(), Match("1")));
}

TEST(WebhookRule, SlowAppDeniesAfterTheTimeout) {
  TestHttpServer app([](const TestRequest&) {
    return Reply(200, std::chrono::milliseconds(3000));
  });
  const auto rule = WebhookRule("{ webhook = { url = \"" + app.url() + "/a\", timeout_ms = 200 } }");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(rule(Request(), Match("1")));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2500));
}

}  // namespace
