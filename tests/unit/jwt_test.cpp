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

constexpr std::int64_t kLater = 1700000600;  // an `exp` after kNow

TEST(Jwt, SignAndVerifyEveryHmacAlgorithm) {
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    const std::string token = sign_jwt({{"sub", "42"}, {"exp", kLater}}, "secret", alg);
    const auto r = verify_jwt(token, Options(), kNow);
    ASSERT_TRUE(r) << alg << ": " << r.error;
    EXPECT_EQ(r.claims->at("sub"), "42");
  }
}

TEST(Jwt, RefusesWithAReason) {
  const std::string good = sign_jwt({{"sub", "42"}, {"exp", kLater}}, "secret");
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
  EXPECT_THAT(verify_jwt(sign_jwt({{"sub", "1"}, {"exp", kLater}}, "secret", "HS512"), only256, kNow).error,
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

// ---- issue 11: the JWT policy ----

TEST(Jwt, ExpIsRequiredUnlessTheOptionsSayOtherwise) {
  const std::string token = sign_jwt({{"sub", "42"}}, "secret");
  EXPECT_EQ(verify_jwt(token, Options(), kNow).error, "token has no `exp`");
  JwtOptions optional_exp = Options();
  optional_exp.require_exp = false;
  EXPECT_TRUE(verify_jwt(token, optional_exp, kNow));
}

TEST(Jwt, RefusesACritHeader) {
  // {"alg":"HS256","crit":["exp"],"exp":1} would be a header extension nobody here understands.
  const std::string header = R"({"alg":"HS256","typ":"JWT","crit":["x"],"x":1})";
  // Build the token by hand with the library's own encoder: sign a token, swap its header.
  const std::string base = sign_jwt({{"sub", "1"}, {"exp", kLater}}, "secret");
  std::string encoded;
  {
    static constexpr char kB64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : header) {
      buffer = (buffer << 8) | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        encoded += kB64[(buffer >> bits) & 63];
      }
    }
    if (bits > 0) encoded += kB64[(buffer << (6 - bits)) & 63];
  }
  const std::string payload = base.substr(base.find('.') + 1, base.rfind('.') - base.find('.') - 1);
  const std::string input = encoded + "." + payload;
  // Re-sign: the signature must be valid so that only `crit` can be the reason.
  const std::string resigned = [&] {
    const std::string hex = herald::hmac_sha256_hex("secret", input);
    std::string raw;
    for (size_t i = 0; i < hex.size(); i += 2) raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    static constexpr char kB64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (unsigned char c : raw) {
      buffer = (buffer << 8) | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out += kB64[(buffer >> bits) & 63];
      }
    }
    if (bits > 0) out += kB64[(buffer << (6 - bits)) & 63];
    return out;
  }();
  const auto r = verify_jwt(input + "." + resigned, Options(), kNow);
  EXPECT_FALSE(r);
  EXPECT_THAT(r.error, HasSubstr("crit"));
}

TEST(Jwt, OnlyTheCanonicalBase64urlSpellingVerifies) {
  const std::string token = sign_jwt({{"sub", "42"}, {"exp", kLater}}, "secret");
  ASSERT_TRUE(verify_jwt(token, Options(), kNow));
  // The HS256 signature is 32 bytes = 43 characters; the last one carries 2 unused bits, so
  // three other characters decode to the same bytes. Only the one with zero bits may verify.
  static constexpr std::string_view kB64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t last = token.size() - 1;
  const size_t value = kB64.find(token[last]);
  ASSERT_EQ(value & 3u, 0u);
  int verified = 0;
  for (size_t low = 0; low < 4; ++low) {
    std::string variant = token;
    variant[last] = kB64[(value & ~size_t{3}) | low];
    if (verify_jwt(variant, Options(), kNow)) ++verified;
  }
  EXPECT_EQ(verified, 1);
  // Padding is not base64url's JWS form either.
  EXPECT_FALSE(verify_jwt(token + "=", Options(), kNow));
}

TEST(Jwt, AudienceAndIssuerWhenConfigured) {
  JwtOptions o = Options();
  o.audience = "herald";
  o.issuer = "https://app.example";
  auto check = [&](const boost::json::object& extra) {
    boost::json::object claims{{"sub", "1"}, {"exp", kLater}};
    for (const auto& [k, v] : extra) claims[k] = v;
    return verify_jwt(sign_jwt(claims, "secret"), o, kNow);
  };
  EXPECT_TRUE(check({{"aud", "herald"}, {"iss", "https://app.example"}}));
  EXPECT_TRUE(check({{"aud", boost::json::array{"other", "herald"}}, {"iss", "https://app.example"}}));
  EXPECT_THAT(check({{"aud", "other"}, {"iss", "https://app.example"}}).error, HasSubstr("`aud`"));
  EXPECT_THAT(check({{"iss", "https://app.example"}}).error, HasSubstr("`aud`"));
  EXPECT_THAT(check({{"aud", "herald"}, {"iss", "https://evil.example"}}).error, HasSubstr("`iss`"));
  EXPECT_THAT(check({{"aud", "herald"}}).error, HasSubstr("`iss`"));
  // Not configured: not checked.
  EXPECT_TRUE(verify_jwt(sign_jwt({{"aud", "x"}, {"exp", kLater}}, "secret"), Options(), kNow));
}

// ---- the `jwt` rule ----

const std::string kKey = "rule-secret-0123456789abcdefghijk";  // 33 bytes

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

std::int64_t InTenMinutes() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         600;
}

// A token for the rule's key, valid for ten minutes.
std::string Token(boost::json::object claims, const std::string& key = kKey) {
  claims["exp"] = InTenMinutes();
  return sign_jwt(claims, key);
}

TEST(JwtRule, ClaimMustEqualTheTopicParameter) {
  const auto rule = Rule(R"({ jwt = { secret = ")" + kKey + R"(", claim = "sub", equals = "{uuid}" } })");
  EXPECT_TRUE(rule(Bearer(Token({{"sub", "42"}})), Match("42")));
  EXPECT_FALSE(rule(Bearer(Token({{"sub", "43"}})), Match("42")));
  EXPECT_TRUE(rule(Bearer(Token({{"sub", 42}})), Match("42")));  // numbers as text
  EXPECT_FALSE(rule(Bearer(Token({{"name", "42"}})), Match("42")));  // no claim
  EXPECT_FALSE(rule(Bearer(Token({{"sub", "42"}}, "wrong-secret-0123456789abcdefghij")), Match("42")));
  EXPECT_FALSE(rule(AuthRequest{}, Match("42")));
}

TEST(JwtRule, TokenFromBearerQueryOrForm) {
  const auto rule = Rule(R"({ jwt = { secret = ")" + kKey + R"(" } })");
  const std::string token = Token({{"sub", "1"}});
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

TEST(JwtRule, ExpRequiredAudienceIssuerFromTheRule) {
  const auto strict = Rule(R"({ jwt = { secret = ")" + kKey + R"(", audience = "herald", issuer = "app" } })");
  EXPECT_TRUE(strict(Bearer(Token({{"sub", "1"}, {"aud", "herald"}, {"iss", "app"}})), Match("1")));
  EXPECT_FALSE(strict(Bearer(Token({{"sub", "1"}, {"aud", "herald"}})), Match("1")));
  EXPECT_FALSE(strict(Bearer(Token({{"sub", "1"}, {"iss", "app"}})), Match("1")));
  const std::string no_exp = sign_jwt({{"sub", "1"}}, kKey);
  EXPECT_FALSE(Rule(R"({ jwt = { secret = ")" + kKey + R"(" } })")(Bearer(no_exp), Match("1")));
  EXPECT_TRUE(Rule(R"({ jwt = { secret = ")" + kKey + R"(", require_exp = false } })")(Bearer(no_exp), Match("1")));
}

TEST(JwtRule, AnAllowingRuleHandsBackTheVerifiedClaims) {
  const auto rule = Rule(R"({ jwt = { secret = ")" + kKey + R"(", claim = "sub", equals = "{uuid}" } })");
  const herald::TopicMatch allowed = Match("42");
  ASSERT_TRUE(rule(Bearer(Token({{"sub", "42"}, {"user_info", {{"name", "Ann"}}}})), allowed));
  const auto claims = boost::json::parse(allowed.verified_claims).as_object();
  EXPECT_EQ(claims.at("sub"), "42");
  EXPECT_EQ(claims.at("user_info").at("name"), "Ann");
  const herald::TopicMatch denied = Match("42");
  EXPECT_FALSE(rule(Bearer(Token({{"sub", "43"}})), denied));
  EXPECT_EQ(denied.verified_claims, "");
  // Through the registry: only an allowing rule's claims survive.
  herald::TopicRegistry registry;
  registry.register_topic("order.{uuid}", rule);
  herald::TopicMatch out;
  EXPECT_EQ(registry.authorize(Bearer(Token({{"sub", "42"}})), "order.42", &out), herald::TopicDecision::allow);
  EXPECT_NE(out.verified_claims, "");
  EXPECT_EQ(registry.authorize(Bearer(Token({{"sub", "7"}})), "order.42", &out), herald::TopicDecision::deny);
  EXPECT_EQ(out.verified_claims, "");
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
  const std::string k = "secret = \"" + kKey + "\"";
  EXPECT_EQ(error(R"({ jwt = "s" })"), p + ": `jwt` must be a table like { secret = \"...\" }, not a string");
  EXPECT_EQ(error(R"({ jwt = { claim = "sub", equals = "x" } })"), p + ": `jwt.secret` is required and must not be empty");
  EXPECT_EQ(error(R"({ jwt = { secret = "" } })"), p + ": `jwt.secret` is required and must not be empty");
  EXPECT_EQ(error("{ jwt = { " + k + R"(, claim = "sub" } })"), p + ": `jwt.claim` and `jwt.equals` go together");
  EXPECT_EQ(error("{ jwt = { " + k + R"(, algorithms = ["RS256"] } })"),
            p + ": `jwt.algorithms` may hold only \"HS256\", \"HS384\" and \"HS512\"");
  EXPECT_EQ(error("{ jwt = { " + k + R"(, colour = 1 } })"),
            p + ": `jwt` has unknown key `colour` (expected secret, claim, equals, algorithms, leeway_s, "
                "require_exp, audience, issuer)");
  EXPECT_EQ(error("{ jwt = { " + k + R"(, require_exp = "no" } })"),
            p + ": `jwt.require_exp` must be a boolean, not a string");
  EXPECT_EQ(error("{ jwt = { " + k + R"(, audience = "" } })"), p + ": `jwt.audience` must not be empty");
  EXPECT_EQ(error(R"({ webhook = 5 })"),
            p + ": `webhook` must be a table { url = \"...\", secret = \"...\" }, not an integer");
  EXPECT_EQ(error(R"({ webhook = "http://x" })"),
            p + ": `webhook` must be a table { url = \"...\", secret = \"...\" }, not a string (every "
                "call is signed now: add a `secret`)");
  EXPECT_EQ(error("{ webhook = { url = \"ftp://x\", " + k + " } }"),
            p + ": `webhook` URL must start with http:// or https://");
  EXPECT_EQ(error("{ webhook = { url = \"http://x\", timeout_ms = 0, " + k + " } }"),
            p + ": `webhook.timeout_ms` must be between 1 and 60000");
  EXPECT_EQ(error(R"({ webhook = { url = "http://x" } })"),
            p + ": `webhook.secret` is required (it signs every call: X-Herald-Signature)");
}

// A short HMAC key is refused when the config is read; the message never shows the key.
TEST(JwtRule, ShortSecretsAreRefusedWithoutEchoingThem) {
  for (const std::string rule : {R"({ jwt = { secret = "short-but-secret-value" } })",
                                 R"({ webhook = { url = "http://x", secret = "short-but-secret-value" } })"}) {
    try {
      Rule(rule);
      ADD_FAILURE() << "accepted: " << rule;
    } catch (const herald::ConfigException& e) {
      EXPECT_THAT(e.what(), HasSubstr("b.toml:3:1: "));
      EXPECT_THAT(e.what(), HasSubstr("must be at least 32 bytes"));
      EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("short-but-secret-value")));
    }
  }
  // 32 bytes is enough.
  EXPECT_NO_THROW(Rule(R"({ jwt = { secret = "0123456789abcdef0123456789abcdef" } })"));
}

}  // namespace
