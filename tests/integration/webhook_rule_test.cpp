// The `webhook` topic rule against a real local HTTP server: the app decides (2xx allows);
// anything else, an unreachable app or a timeout denies.
#include <chrono>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "auth/jwt.hpp"
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

const std::string kSecret = "webhook-secret-0123456789abcdefghij";

// `{ webhook = { url = "<url>", secret = kSecret<extra> } }`
std::string Hook(const std::string& url, const std::string& extra = {}) {
  return "{ webhook = { url = \"" + url + "\", secret = \"" + kSecret + "\"" + extra + " } }";
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

TEST(WebhookRule, PostsTopicParamsAndListedHeadersAndAllowsOn2xx) {
  TestHttpServer app([](const TestRequest& r) {
    const auto body = boost::json::parse(r.body);
    const bool owner = body.at("params").at("uuid") == "7";
    return Reply(owner ? 204 : 403);
  });
  const auto rule = WebhookRule(Hook(app.url() + "/authorize", R"(, forward_headers = ["Cookie", "X-User"])"));
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
    EXPECT_FALSE(WebhookRule(Hook(app.url() + "/a"))(Request(), Match("1"))) << status;
  }
}

TEST(WebhookRule, UnreachableAppDenies) {
  const auto port = herald::testing_support::free_tcp_port();
  EXPECT_FALSE(WebhookRule(Hook("http://127.0.0.1:" + std::to_string(port) + "/a"))(
      Request(), Match("1")));
}

TEST(WebhookRule, SlowAppDeniesAfterTheTimeout) {
  TestHttpServer app([](const TestRequest&) {
    return Reply(200, std::chrono::milliseconds(3000));
  });
  const auto rule = WebhookRule(Hook(app.url() + "/a", ", timeout_ms = 200"));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(rule(Request(), Match("1")));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2500));
}

// ---- issue 11 ----

// The app can tell the call came from Herald: X-Herald-Signature is the hex HMAC-SHA256 of the
// exact body with the rule's secret.
TEST(WebhookRule, EveryCallIsSignedWithTheSecret) {
  TestHttpServer app([](const TestRequest&) { return Reply(200); });
  ASSERT_TRUE(WebhookRule(Hook(app.url() + "/a"))(Request(), Match("7")));
  const auto requests = app.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string signature = requests[0].header("X-Herald-Signature");
  EXPECT_EQ(signature.size(), 64u);
  EXPECT_EQ(signature, herald::hmac_sha256_hex(kSecret, requests[0].body));
  // HMAC-SHA256 known answer (RFC 4231 test case 2), so the helper is the real thing.
  EXPECT_EQ(herald::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// Cookies and bearer tokens are credentials: by default the app gets no client header at all.
TEST(WebhookRule, ForwardsNoClientHeaderUnlessListed) {
  TestHttpServer app([](const TestRequest&) { return Reply(200); });
  herald::AuthRequest request = Request();
  request.headers.emplace_back("Authorization", "Bearer secret-token");
  ASSERT_TRUE(WebhookRule(Hook(app.url() + "/a"))(request, Match("7")));
  ASSERT_TRUE(WebhookRule(Hook(app.url() + "/a", R"(, forward_headers = ["x-user"])"))(request, Match("7")));
  const auto requests = app.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(boost::json::parse(requests[0].body).at("headers"), boost::json::object{});
  EXPECT_EQ(requests[0].body.find("session=abc"), std::string::npos);
  EXPECT_EQ(requests[0].body.find("secret-token"), std::string::npos);
  EXPECT_EQ(boost::json::parse(requests[1].body).at("headers"),
            boost::json::parse(R"({"x-user":"7, 8"})"));
}

// A 2xx with a huge body is not an answer the host will buffer: the call fails, so it denies.
TEST(WebhookRule, AnAnswerOverTheSizeCapDenies) {
  TestHttpServer app([](const TestRequest&) {
    TestResponse r = Reply(200);
    r.body = std::string(200 * 1024, 'x');
    return r;
  });
  EXPECT_FALSE(WebhookRule(Hook(app.url() + "/a"))(Request(), Match("1")));  // default 64 KiB
  EXPECT_TRUE(WebhookRule(Hook(app.url() + "/a", ", max_response_bytes = 1048576"))(Request(), Match("1")));
}

}  // namespace
