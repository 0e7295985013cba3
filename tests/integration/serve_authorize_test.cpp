// The authorize endpoint of `herald serve` through the real binary: Spiral's
// AuthorizationMiddleware cases, CORS, and the seed's two examples end to end with the jwt and
// header rules, the guard being the fixture plugin that asks the host's topic rules.
#include <chrono>
#include <string>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "auth/jwt.hpp"
#include "cli_test_support.hpp"
#include "herald_server.hpp"

namespace {

using herald::testing_support::HeraldServer;
using herald::testing_support::http_request;
using herald::testing_support::HttpReply;
using herald::testing_support::TempDir;
using ::testing::HasSubstr;

const std::string kPath = "/broadcasting/auth";
const std::string kJwtSecret = "jwt-test-secret-0123456789abcdef";

// Default connection `guard` (the fixture guard: it authorizes the `channel_name` query
// parameter through the host's topic rules), with the seed's two rules.
std::string GuardConfig(const std::string& extra_server = "") {
  return R"(default = "guard"
[server]
api_key = "k"
)" + extra_server + R"(
[authorize]
path = "/broadcasting/auth"
[[authorize.topics]]
pattern = "topic"
rule = { header = "SECRET", equals = "secret" }
[[authorize.topics]]
pattern = "order.{uuid}"
rule = { jwt = { secret = ")" + kJwtSecret + R"(", claim = "sub", equals = "{uuid}" } }
[connections.guard]
driver = "fixture-guard"
[connections.null]
driver = "null"
)";
}

std::string Token(const boost::json::object& claims) { return herald::sign_jwt(claims, kJwtSecret); }

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ServeAuthorize : public ::testing::Test {
 protected:
  TempDir dir_{"herald-auth"};
};

TEST_F(ServeAuthorize, NoAuthorizePathMeansNoEndpoint) {
  HeraldServer server(dir_, "default = \"guard\"\n[connections.guard]\ndriver = \"fixture-guard\"\n");
  EXPECT_EQ(server.get(kPath + "?channel_name=custom").status, 404);
}

// Spiral answers 200 for a default connection that is not a guard; Herald (issue 11) lets the
// host's topic rules decide the requested `topic`/`channel_name` instead: deny unless allowed.
TEST_F(ServeAuthorize, NotAGuardDeniesUnlessATopicRuleAllows) {
  HeraldServer server(dir_, "default = \"null\"\n[authorize]\npath = \"/broadcasting/auth\"\n"
                            "[[authorize.topics]]\npattern = \"news\"\nrule = { allow = true }\n"
                            "[[authorize.topics]]\npattern = \"topic\"\n"
                            "rule = { header = \"SECRET\", equals = \"secret\" }\n"
                            "[connections.null]\ndriver = \"null\"\n");
  const auto form = [&](const std::string& body, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "application/x-www-form-urlencoded"}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return http_request(server.port(), "POST", kPath, body, headers).status;
  };
  EXPECT_EQ(form("channel_name=anything"), 403);  // no rule matches
  EXPECT_EQ(form(""), 403);                       // no topic at all
  EXPECT_EQ(form("socket_id=1.2"), 403);
  EXPECT_EQ(form("channel_name=news"), 200);
  EXPECT_EQ(server.get(kPath + "?topic=news").status, 200);
  EXPECT_EQ(form("channel_name=topic"), 403);
  EXPECT_EQ(form("channel_name=topic", {{"SECRET", "secret"}}), 200);
  // Every requested topic must be allowed.
  EXPECT_EQ(server.get(kPath + "?topic=news&topic=anything").status, 403);
  // At most 16 topics per request (each may cost a rule call).
  std::string many;
  for (int i = 0; i < 17; ++i) many += "&topic=news";
  EXPECT_EQ(server.get(kPath + "?" + many.substr(1)).status, 403);
  EXPECT_EQ(server.get(kPath + "?" + many.substr(12)).status, 200);
  const HttpReply r = server.post(kPath, "channel_name=news");
  EXPECT_EQ(r.body, "");
}

TEST_F(ServeAuthorize, GuardAllowsDeniesOrAnswersVerbatimForAnyMethod) {
  HeraldServer server(dir_, GuardConfig());
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    HttpReply r = http_request(server.port(), method, kPath + "?channel_name=topic", {},
                               {{"SECRET", "secret"}});
    EXPECT_EQ(r.status, 200) << method;
    EXPECT_EQ(r.body, "") << method;
    r = http_request(server.port(), method, kPath + "?channel_name=topic", {},
                     {{"SECRET", "wrong"}});
    EXPECT_EQ(r.status, 403) << method;
    EXPECT_EQ(r.body, "");
  }
  const HttpReply custom = server.get(kPath + "?channel_name=custom");
  EXPECT_EQ(custom.status, 418);
  EXPECT_EQ(custom.body, "teapot");
  EXPECT_EQ(custom.header("X-Fixture"), "yes");
  // No pattern matches: denied.
  EXPECT_EQ(server.get(kPath + "?channel_name=other").status, 403);
}

TEST_F(ServeAuthorize, OnlyTheExactPathIsTheEndpoint) {
  HeraldServer server(dir_, GuardConfig());
  EXPECT_EQ(server.get(kPath + "/?channel_name=custom").status, 404);
  EXPECT_EQ(server.get(kPath + "x?channel_name=custom").status, 404);
  EXPECT_EQ(server.get("/BROADCASTING/AUTH?channel_name=custom").status, 404);
}

TEST_F(ServeAuthorize, EnvironmentPathWins) {
  HeraldServer server(dir_, GuardConfig(),
                      HeraldServer::Options{{{"BROADCAST_AUTHORIZE_PATH", "/custom/auth"}}, {}, true});
  EXPECT_EQ(server.get("/custom/auth?channel_name=custom").status, 418);
  EXPECT_EQ(server.get(kPath + "?channel_name=custom").status, 404);
}

// The seed's first example: `topic` needs header SECRET: secret.
TEST_F(ServeAuthorize, SeedExampleTopicNeedsTheSecretHeader) {
  HeraldServer server(dir_, GuardConfig());
  EXPECT_EQ(server.get(kPath + "?channel_name=topic", {{"SECRET", "secret"}}).status, 200);
  EXPECT_EQ(server.get(kPath + "?channel_name=topic", {{"secret", "secret"}}).status, 200);
  EXPECT_EQ(server.get(kPath + "?channel_name=topic").status, 403);
  EXPECT_EQ(server.get(kPath + "?channel_name=topic", {{"SECRET", "Secret"}}).status, 403);
}

// The seed's second example: `order.{uuid}` only for its owner ($actor->getId() === $id).
TEST_F(ServeAuthorize, SeedExampleOrderOnlyForItsOwnerByJwt) {
  HeraldServer server(dir_, GuardConfig());
  const std::string owner = Token({{"sub", "42"}, {"exp", Now() + 600}});
  const std::string other = Token({{"sub", "43"}, {"exp", Now() + 600}});
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42", {{"Authorization", "Bearer " + owner}}).status, 200);
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42", {{"Authorization", "Bearer " + other}}).status, 403);
  // The token may also come as a `token` query or form field.
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42&token=" + owner).status, 200);
  EXPECT_EQ(http_request(server.port(), "POST", kPath + "?channel_name=order.42", "token=" + owner,
                         {{"Content-Type", "application/x-www-form-urlencoded"}})
                .status,
            200);
  // Expired, not yet valid, wrong signature, missing.
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42",
                       {{"Authorization", "Bearer " + Token({{"sub", "42"}, {"exp", Now() - 10}})}})
                .status,
            403);
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42",
                       {{"Authorization", "Bearer " + Token({{"sub", "42"}, {"nbf", Now() + 600}})}})
                .status,
            403);
  const std::string forged = herald::sign_jwt({{"sub", "42"}}, "another-secret");
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42", {{"Authorization", "Bearer " + forged}}).status, 403);
  EXPECT_EQ(server.get(kPath + "?channel_name=order.42").status, 403);
}

TEST_F(ServeAuthorize, CorsPreflightAndHeadersForConfiguredOriginsOnly) {
  HeraldServer server(dir_, GuardConfig("cors_origins = [\"https://app.example\"]\n"));
  HttpReply r = http_request(server.port(), "OPTIONS", kPath, {},
                             {{"Origin", "https://app.example"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "authorization, x-csrf-token"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_THAT(r.header("Access-Control-Allow-Methods"), HasSubstr("POST"));
  // A fixed list of what the endpoint reads, never the requested headers echoed back.
  EXPECT_EQ(r.header("Access-Control-Allow-Headers"),
            "Authorization, Content-Type, X-CSRF-Token, X-Requested-With, X-Socket-ID");
  EXPECT_EQ(r.header("Vary"), "Origin");

  r = server.get(kPath + "?channel_name=topic", {{"Origin", "https://app.example"}, {"SECRET", "secret"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.header("Vary"), "Origin");

  // Another origin gets no CORS headers, and its preflight goes to the guard like any request.
  r = server.get(kPath + "?channel_name=topic", {{"Origin", "https://evil.example"}, {"SECRET", "secret"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "");
  EXPECT_EQ(r.header("Vary"), "Origin");  // always: caches must key the answer by Origin
  r = http_request(server.port(), "OPTIONS", kPath, {},
                   {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(r.status, 403);
}

// "*" answers any origin with `Access-Control-Allow-Origin: *` and never with credentials; the
// `null` origin gets no CORS headers at all; a named origin keeps its credentials.
TEST_F(ServeAuthorize, CorsWildcardNeverGoesWithCredentialsAndNullIsNeverAllowed) {
  HeraldServer server(dir_, GuardConfig("cors_origins = [\"*\", \"https://app.example\"]\n"));
  HttpReply r = server.get(kPath + "?channel_name=topic",
                           {{"Origin", "https://evil.example"}, {"SECRET", "secret"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "");
  EXPECT_EQ(r.header("Vary"), "Origin");
  r = http_request(server.port(), "OPTIONS", kPath, {},
                   {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"},
                    {"Access-Control-Request-Headers", "x-anything, cookie"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "");
  EXPECT_THAT(r.header("Access-Control-Allow-Headers"), ::testing::Not(HasSubstr("x-anything")));

  r = server.get(kPath + "?channel_name=topic", {{"Origin", "null"}, {"SECRET", "secret"}});
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "");
  EXPECT_EQ(r.header("Vary"), "Origin");

  r = server.get(kPath + "?channel_name=topic",
                 {{"Origin", "https://app.example"}, {"SECRET", "secret"}});
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
}

TEST_F(ServeAuthorize, CorsOriginsMustBeOriginsAndNeverNull) {
  for (const char* bad : {"null", "app.example", "https://app.example/path", "https://"}) {
    const auto path = dir_.write("broadcasting.toml",
                                 std::string("default = \"null\"\n[server]\ncors_origins = [\"") + bad +
                                     "\"]\n[connections.null]\ndriver = \"null\"\n");
    const auto r = herald::cli_test::RunProcess(
        HERALD_TEST_BINARY, {"--config", path.string(), "--plugin-dir", HERALD_TEST_PLUGIN_DIR, "check"});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("broadcasting.toml:")) << bad;
    EXPECT_THAT(r.err, HasSubstr("`server.cors_origins`")) << bad;
  }
}

TEST_F(ServeAuthorize, EveryDecisionIsLoggedAtDebugAndCounted) {
  HeraldServer server(dir_, GuardConfig(), HeraldServer::Options{{}, {"--log-level", "debug"}, true});
  ASSERT_EQ(server.get(kPath + "?channel_name=topic", {{"SECRET", "secret"}}).status, 200);
  ASSERT_EQ(server.get(kPath + "?channel_name=topic").status, 403);
  ASSERT_EQ(server.get(kPath + "?channel_name=topic").status, 403);
  ASSERT_EQ(server.get(kPath + "?channel_name=custom").status, 418);
  const std::string metrics = server.get("/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("herald_authorizations_total{decision=\"allow\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("herald_authorizations_total{decision=\"deny\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("herald_authorizations_total{decision=\"response\"} 1\n"));
  ASSERT_TRUE(server.process().wait_for_output("decision=response"));
  EXPECT_THAT(server.log(), HasSubstr("authorized: decision=allow success=true topics=[topic]"));
  EXPECT_THAT(server.log(), HasSubstr("authorized: decision=deny success=false topics=[topic]"));
}

}  // namespace
