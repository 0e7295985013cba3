// JWT verification (HS256/384/512) and the `jwt` topic rule.
#include <chrono>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "auth/jwt.hpp"
#include "auth/topic_rules.hpp"
#include "core/errors.hpp"

namespace {

using herald::AuthRequest;
using herald::JwtOptions;
using herald::sign_jwt;
using herald::verify_jwt;
using ::testing::HasSubstr;

const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1700000000)};

JwtOptions Options(std::string secret = "secret") {
  JwtOptions o;
  o.secret = std::move(secret);
  return o;
}

// RFC 7519 section 3.1's example token (HS256), checked against its published key.
TEST(Jwt, VerifiesTheRfc7515ExampleToken) {
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  // The key of RFC 7515 appendix A.1 (a JWK "k" value, base64url of these bytes).
  const unsigned char key[] = {3,   35,  53,  75,  43,  15,  165, 188, 131, 126, 6,   101, 119,
                               123, 166, 143, 90,  179, 40,  230, 240, 84,  201, 40,  169, 15,
                               132, 178, 210, 80,  46,  191, 211, 251, 90,  146, 210, 6,   71,
                               239, 150, 138, 180, 195, 119, 98,  61,  34,  61,  46,  33,  114,
                               5,   46,  79,  8,   192, 205, 154, 245, 103, 208, 128, 163};
  JwtOptions o = Options(std::string(reinterpret_cast<const char*>(key), sizeof key));
  const auto ok = verify_jwt(token, o, std::chrono::system_clock::time_point{std::chrono::seconds(1300819370)});
  ASSERT_TRUE(ok) << ok.error;
  EXPECT_EQ(ok.claims->at("iss"), "joe");
  // The same token after its exp (1300819380) is refused.
  const auto late = verify_jwt(token, o, std::chrono::system_clock::time_point{std::chrono::seconds(1300819381)});
  EXPECT_FALSE(late);
  EXPECT_EQ(late.error, "token has expired");
}

TEST(Jwt, SignAndVerifyEveryHmacAlgorithm) {
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    const std::string token = sign_jwt({{"sub", "42"}}, "secret", alg);
    const auto r = verify_jwt(token, Options(), kNow);
    ASSERT_TRUE(r) << alg << ": " << r.error;
    EXPECT_EQ(r.claims->at("sub"), "42");
  }
}

TEST(Jwt, RefusesWithAReason) {
  const std::string good = sign_jwt({{"sub", "42"}}, "secret");
  EXPECT_EQ(verify_jwt(good, Options("other"), kNow).error, "token signature does not match");
  std::string tampered = good;
  tampered[tampered.find('.') + 2] ^= 1;
  EXPECT_FALSE(verify_jwt(tampered, Options(), kNow));
  EXPECT_THAT(verify_jwt("abc", Options(), kNow).error, HasSubstr("not a JWS compact"));
  EXPECT_THAT(verify_jwt("a.b.c.d", Options(), kNow).error, HasSubstr("not a JWS compact"));
  EXPECT_THAT(verify_jwt("!!.e30.", Options(), kNow).error, HasSubstr("header"));
  // alg "none" and algorithms not accepted by the rule are refused.
  EXPECT_THAT(verify_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9.", Options(), kNow).error,
              HasSubstr("algorithm is not accepted"));
  JwtOptions only256 = Options();
  only256.algorithms = {"HS256"};
  EXPECT_THAT(verify_jwt(sign_jwt({{"sub", "1"}}, "secret", "HS512"), only256, kNow).error,
              HasSubstr("algorithm is not accepted"));
}

TEST(Jwt, ExpAndNbfWithLeeway) {
  const auto at = [](std::int64_t s) { return std::chrono::system_clock::time_point{std::chrono::seconds(s)}; };
  const std::string token = sign_jwt({{"nbf", 100}, {"exp", 200}}, "secret");
  EXPECT_FALSE(verify_jwt(token, Options(), at(99)));
  EXPECT_TRUE(verify_jwt(token, Options(), at(100)));
  EXPECT_TRUE(verify_jwt(token, Options(), at(199)));
  EXPECT_FALSE(verify_jwt(token, Options(), at(200)));
  JwtOptions lenient = Options();
  lenient.leeway = std::chrono::seconds(5);
  EXPECT_TRUE(verify_jwt(token, lenient, at(96)));
  EXPECT_TRUE(verify_jwt(token, lenient, at(204)));
  EXPECT_EQ(verify_jwt(sign_jwt({{"exp", "soon"}}, "secret"), Options(), at(1)).error,
            "token `exp` or `nbf` is not a number");
}

// ---- the `jwt` rule ----

herald::TopicCallback Rule(const std::string& rule_toml) {
  herald::TopicRuleConfig config;
  config.pattern = "order.{uuid}";
  config.rule = *toml::parse("rule = " + rule_toml)["rule"].as_table();
  config.where = {"b.toml", 3, 1};
  return herald::make_topic_rule(config);
}

herald::TopicMatch Match(const std::string& uuid) {
  herald::TopicMatch m;
  m.topic = "order." + uuid;
  m.params = {{"uuid", uuid}};
  return m;
}

AuthRequest Bearer(const std::string& token) {
  AuthRequest r;
  r.headers = {{"Authorization", "Bearer " + token}};
  return r;
}

TEST(JwtRule, ClaimMustEqualTheTopicParameter) {
  const auto rule = Rule(R"({ jwt = { secret = "s3cret", claim = "sub", equals = "{uuid}" } })");
  EXPECT_TRUE(rule(Bearer(sign_jwt({{"sub", "42"}}, "s3cret")), Match("42")));
  EXPECT_FALSE(rule(Bearer(sign_jwt({{"sub", "43"}}, "s3cret")), Match("42")));
  EXPECT_TRUE(rule(Bearer(sign_jwt({{"sub", 42}}, "s3cret")), Match("42")));  // numbers as text
  EXPECT_FALSE(rule(Bearer(sign_jwt({{"name", "42"}}, "s3cret")), Match("42")));  // no claim
  EXPECT_FALSE(rule(Bearer(sign_jwt({{"sub", "42"}}, "wrong")), Match("42")));
  EXPECT_FALSE(rule(AuthRequest{}, Match("42")));
}

TEST(JwtRule, TokenFromBearerQueryOrForm) {
  const auto rule = Rule(R"({ jwt = { secret = "s3cret" } })");
  const std::string token = sign_jwt({{"sub", "1"}}, "s3cret");
  AuthRequest query;
  query.query = "a=1&token=" + token;
  EXPECT_TRUE(rule(query, Match("1")));
  AuthRequest form;
  form.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  form.body = "channel_name=x&token=" + token;
  EXPECT_TRUE(rule(form, Match("1")));
  AuthRequest json_body;  // a `token` in a JSON body is not a form field
  json_body.headers = {{"Content-Type", "application/json"}};
  json_body.body = "token=" + token;
  EXPECT_FALSE(rule(json_body, Match("1")));
}

TEST(JwtRule, ConfigErrorsNameTheKey) {
  auto error = [](const std::string& rule) {
    try {
      Rule(rule);
    } catch (const herald::ConfigException& e) {
      return std::string(e.what());
    }
    return std::string("<no exception>");
  };
  const std::string p = "b.toml:3:1: rule for topic `order.{uuid}`";
  EXPECT_EQ(error(R"({ jwt = "s" })"), p + ": `jwt` must be a table like { secret = \"...\" }, not a string");
  EXPECT_EQ(error(R"({ jwt = { claim = "sub", equals = "x" } })"), p + ": `jwt.secret` is required and must not be empty");
  EXPECT_EQ(error(R"({ jwt = { secret = "" } })"), p + ": `jwt.secret` is required and must not be empty");
  EXPECT_EQ(error(R"({ jwt = { secret = "s", claim = "sub" } })"), p + ": `jwt.claim` and `jwt.equals` go together");
  EXPECT_EQ(error(R"({ jwt = { secret = "s", algorithms = ["RS256"] } })"),
            p + ": `jwt.algorithms` may hold only \"HS256\", \"HS384\" and \"HS512\"");
  EXPECT_EQ(error(R"({ jwt = { secret = "s", colour = 1 } })"),
            p + ": `jwt` has unknown key `colour` (expected secret, claim, equals, algorithms, leeway_s)");
  EXPECT_EQ(error(R"({ webhook = 5 })"),
            p + ": `webhook` must be a URL string or a table { url = ..., timeout_ms = ... }, not an integer");
  EXPECT_EQ(error(R"({ webhook = "ftp://x" })"), p + ": `webhook` URL must start with http:// or https://");
  EXPECT_EQ(error(R"({ webhook = { url = "http://x", timeout_ms = 0 } })"),
            p + ": `webhook.timeout_ms` must be between 1 and 60000");
}

}  // namespace
