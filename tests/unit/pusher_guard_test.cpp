// The pusher guard (plugins/common/pusher/pusher_guard.hpp) in-process, against a fake host API whose
// topic rules are a callback: channel authorization (private, presence, encrypted, public), user
// sign-in, identities, request decoding and validation, configuration checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "common/pusher/pusher_guard.hpp"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr std::string_view kKey = "278d425bdf160c739803";
constexpr std::string_view kSecret = "7ad3773142a6692b25b8";
// pusher-http-node's encryption test key (shared_secret of private-encrypted-bla is known).
constexpr std::string_view kMasterKey = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=";

// ---- a fake host: topic rules from a callback, log lines recorded ----

struct FakeHost {
  // topic -> decision (HERALD_TOPIC_*), or a negative status to fail.
  std::function<int(std::string_view topic)> rules = [](std::string_view) {
    return int(HERALD_TOPIC_ALLOW);
  };
  std::mutex mutex;
  // topic -> the claims of the token a jwt rule verified (ABI 1.3), when the rule allows.
  std::function<std::optional<std::string>(std::string_view topic)> claims =
      [](std::string_view) { return std::optional<std::string>(); };
  std::vector<std::string> asked;  // topics the guard asked about
  std::vector<std::pair<int, std::string>> logs;
  herald_host_api api{};

  FakeHost() {
    api.struct_size = sizeof api;
    api.host_abi_version = HERALD_ABI_VERSION;
    api.ctx = this;
    api.log = [](void* ctx, int level, herald_str message) {
      auto* self = static_cast<FakeHost*>(ctx);
      std::lock_guard lock(self->mutex);
      self->logs.emplace_back(level, std::string(message.data, message.size));
    };
    api.log_enabled = [](void*, int) { return 1; };
    api.authorize_topic = [](void* ctx, const herald_request*, herald_str topic, herald_param_fn,
                             void*, herald_error* err) {
      auto* self = static_cast<FakeHost*>(ctx);
      std::string_view t = herald::sdk::view(topic);
      {
        std::lock_guard lock(self->mutex);
        self->asked.emplace_back(t);
      }
      int rc = self->rules(t);
      if (rc < 0) herald_error_set(err, "rule webhook unreachable");
      return rc;
    };
    api.authorize_topic_claims = [](void* ctx, const herald_request* request, herald_str topic,
                                    herald_param_fn on_param, herald_write_fn on_claims,
                                    void* user, herald_error* err) {
      auto* self = static_cast<FakeHost*>(ctx);
      const int rc = self->api.authorize_topic(ctx, request, topic, on_param, user, err);
      if (rc == HERALD_TOPIC_ALLOW && on_claims != nullptr)
        if (auto c = self->claims(herald::sdk::view(topic))) on_claims(user, herald::sdk::str(*c));
      return rc;
    };
  }
  herald::sdk::Host host() const { return herald::sdk::Host(&api); }
  std::string all_logs() {
    std::string out;
    for (const auto& [level, text] : logs) out += std::to_string(level) + " " + text + "\n";
    return out;
  }
};

// ---- connection config ----

struct Cfg {
  std::vector<std::pair<std::string, std::string>> strings{
      {"app_id", "3"}, {"key", std::string(kKey)}, {"secret", std::string(kSecret)}};
  std::vector<std::pair<std::string, std::string>> json;
  std::vector<herald_config_entry> entries;
  herald_config c{};

  Cfg& set(std::string key, std::string value) {
    for (auto& [k, v] : strings)
      if (k == key) {
        v = std::move(value);
        return *this;
      }
    strings.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Cfg& remove(std::string_view key) {
    std::erase_if(strings, [&](const auto& p) { return p.first == key; });
    return *this;
  }
  herald::sdk::Config get() {
    entries.clear();
    for (auto& [k, v] : strings) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
    for (auto& [k, v] : json) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
    c.struct_size = sizeof c;
    c.connection = {"pusher", 6};
    c.entries = entries.data();
    c.entry_count = entries.size();
    return herald::sdk::Config(&c);
  }
};

// ---- requests and results ----

struct Req {
  std::string method = "POST", path = "/broadcasting/auth", query, body;
  std::string remote = "127.0.0.1:5555";
  std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "application/x-www-form-urlencoded"}};
  std::vector<herald_header> raw_headers;
  herald_request r{};

  Req& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  herald::sdk::Request get() {
    raw_headers.clear();
    for (auto& [n, v] : headers) raw_headers.push_back({herald::sdk::str(n), herald::sdk::str(v)});
    r.struct_size = sizeof r;
    r.method = herald::sdk::str(method);
    r.path = herald::sdk::str(path);
    r.query = herald::sdk::str(query);
    r.headers = raw_headers.data();
    r.header_count = raw_headers.size();
    r.body = herald::sdk::str(body);
    r.remote_address = herald::sdk::str(remote);
    return herald::sdk::Request(&r);
  }
};

Req form(std::string body) {
  Req r;
  r.body = std::move(body);
  return r;
}

struct Outcome {
  bool success = false;
  std::optional<std::vector<std::string>> topics;
  std::optional<int> status;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  herald_auth_result raw{};

  Outcome() {
    raw.struct_size = sizeof raw;
    raw.ctx = this;
    raw.set_success = [](void* ctx, int ok) { static_cast<Outcome*>(ctx)->success = ok != 0; };
    raw.add_topic = [](void* ctx, herald_str topic) {
      auto* self = static_cast<Outcome*>(ctx);
      if (!self->topics) self->topics.emplace();
      self->topics->emplace_back(herald::sdk::view(topic));
    };
    raw.set_attributes = [](void*, herald_str) {};
    raw.set_response = [](void* ctx, int code, herald_str text) {
      auto* self = static_cast<Outcome*>(ctx);
      self->status = code;
      self->body = herald::sdk::view(text);
    };
    raw.add_response_header = [](void* ctx, herald_str name, herald_str value) {
      static_cast<Outcome*>(ctx)->headers.emplace_back(herald::sdk::view(name),
                                                       herald::sdk::view(value));
    };
  }
  herald::sdk::AuthResult result() { return herald::sdk::AuthResult(&raw); }
  boost::json::object json() const { return boost::json::parse(body).as_object(); }
  std::string error() const { return std::string(json().at("error").as_string()); }
};

class PusherGuardTest : public ::testing::Test {
 protected:
  herald::pusher::PusherGuard make() {
    return herald::pusher::PusherGuard(host_.host(), cfg_.get());
  }

  Outcome run(Req request) {
    auto guard = make();
    Outcome out;
    guard.authorize(request.get(), out.result());
    return out;
  }

  void TearDown() override {
    // Secrets never reach the log, whatever the test did.
    for (const auto& [level, text] : host_.logs) {
      EXPECT_THAT(text, Not(HasSubstr(std::string(kSecret))));
      EXPECT_THAT(text, Not(HasSubstr(std::string(kMasterKey))));
    }
  }

  // The test's requests come from 127.0.0.1: make that a trusted proxy for `user_header`.
  void TrustLoopback() { cfg_.json.emplace_back("trusted_proxies", R"(["127.0.0.1/8", "::1"])"); }

  FakeHost host_;
  Cfg cfg_;
};

std::string sig(std::string_view to_sign) {
  return std::string(kKey) + ":" + herald::pusher::hmac_sha256_hex(kSecret, to_sign);
}

// ---- private channels ----

TEST_F(PusherGuardTest, PrivateChannelAllowedIsSignedWithTheOfficialVector) {
  Outcome out = run(form("socket_id=1234.1234&channel_name=private-foobar"));
  EXPECT_TRUE(out.success);
  ASSERT_TRUE(out.topics);
  EXPECT_THAT(*out.topics, ElementsAre("private-foobar"));
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(
      out.body,
      R"({"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"})");
  EXPECT_THAT(out.headers,
              ElementsAre(std::pair<std::string, std::string>("Content-Type", "application/json")));
  // The prefix is stripped before the host's rules decide.
  EXPECT_THAT(host_.asked, ElementsAre("foobar"));
}

TEST_F(PusherGuardTest, PrivateChannelDeniedByTheRule) {
  host_.rules = [](std::string_view) { return int(HERALD_TOPIC_DENY); };
  Outcome out = run(form("socket_id=1234.1234&channel_name=private-orders.7"));
  EXPECT_FALSE(out.success);
  EXPECT_FALSE(out.status);  // no response: the host answers 403
  EXPECT_FALSE(out.topics);
  EXPECT_THAT(host_.asked, ElementsAre("orders.7"));
  EXPECT_THAT(host_.all_logs(), HasSubstr("denied private-orders.7: the topic rule denied it"));
}

TEST_F(PusherGuardTest, PrivateChannelWithNoMatchingRuleIsDenied) {
  host_.rules = [](std::string_view t) {
    return int(t == "orders.1" ? HERALD_TOPIC_ALLOW : HERALD_TOPIC_NO_MATCH);
  };
  Outcome out = run(form("socket_id=1.2&channel_name=private-users.1"));
  EXPECT_FALSE(out.success);
  EXPECT_FALSE(out.status);
  EXPECT_THAT(host_.all_logs(), HasSubstr("no topic rule matches"));
  Outcome ok = run(form("socket_id=1.2&channel_name=private-orders.1"));
  EXPECT_TRUE(ok.success);
  EXPECT_EQ(ok.json().at("auth").as_string(), sig("1.2:private-orders.1"));
}

TEST_F(PusherGuardTest, RuleFailureIsAnError) {
  host_.rules = [](std::string_view) { return int(HERALD_E_FAILED); };
  auto guard = make();
  Req req = form("socket_id=1.2&channel_name=private-x");
  Outcome out;
  EXPECT_THROW(guard.authorize(req.get(), out.result()), herald::sdk::Error);
  EXPECT_FALSE(out.success);
}

// ---- presence ----

TEST_F(PusherGuardTest, PresenceUsesTheIdentityHeaderAndTheRightVectorPairing) {
  TrustLoopback();
  Req req = form("socket_id=1234.1234&channel_name=presence-foobar");
  req.header("X-Herald-User", R"({"id":10,"info":{"name":"Mr. Channels"}})");
  Outcome out = run(req);
  EXPECT_TRUE(out.success);
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(
      out.body,
      R"({"auth":"278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80",)"
      R"("channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}"})");
  EXPECT_THAT(host_.asked, ElementsAre("foobar"));
}

TEST_F(PusherGuardTest, PresenceWithAPlainIdAndAliasKeys) {
  TrustLoopback();
  Req plain = form("socket_id=1.2&channel_name=presence-room.5");
  plain.header("x-herald-user", " 42 ");  // header names are case-insensitive; value trimmed
  Outcome out = run(plain);
  ASSERT_TRUE(out.success);
  EXPECT_EQ(out.json().at("channel_data").as_string(), R"({"user_id":"42"})");
  EXPECT_EQ(out.json().at("auth").as_string(), sig(R"(1.2:presence-room.5:{"user_id":"42"})"));

  Req alias = form("socket_id=1.2&channel_name=presence-room.5");
  alias.header("X-Herald-User", R"({"user_id":"u-1","user_info":{"n":1}})");
  Outcome a = run(alias);
  ASSERT_TRUE(a.success);
  EXPECT_EQ(a.json().at("channel_data").as_string(), R"({"user_id":"u-1","user_info":{"n":1}})");
}

TEST_F(PusherGuardTest, PresenceWithoutIdentityIsDeniedWithAReason) {
  Outcome out = run(form("socket_id=1.2&channel_name=presence-room.5"));
  EXPECT_FALSE(out.success);
  EXPECT_FALSE(out.status);
  EXPECT_THAT(host_.asked, ElementsAre("room.5"));  // allowed by a rule that verified no token
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].first, HERALD_LOG_WARN);
  EXPECT_THAT(host_.logs[0].second, HasSubstr("denied presence-room.5: no verified user identity"));
  EXPECT_THAT(host_.logs[0].second, HasSubstr("trusted_proxies"));
}

TEST_F(PusherGuardTest, PresenceWithABadIdentityIsDenied) {
  TrustLoopback();
  for (const char* bad : {R"({"info":{}})", R"({"id":""})", R"({"id":1.5})", R"({"id":true})",
                          R"({"id":"1","info":"x"})", R"({"id":"1")", "   "}) {
    host_.logs.clear();
    Req req = form("socket_id=1.2&channel_name=presence-room.5");
    req.header("X-Herald-User", bad);
    Outcome out = run(req);
    EXPECT_FALSE(out.success) << bad;
    EXPECT_THAT(host_.all_logs(), HasSubstr("denied presence-room.5")) << bad;
  }
}

TEST_F(PusherGuardTest, FormIdentityOnlyWhenExplicitlyAllowed) {
  const std::string body =
      "socket_id=1.2&channel_name=presence-room.5&user_id=7&user_info=%7B%22name%22%3A%22Ann+Lee%"
      "22%7D";
  EXPECT_FALSE(run(form(body)).success);  // default: the form is not trusted

  cfg_.json = {{"user_from_form", "true"}};
  Outcome out = run(form(body));
  ASSERT_TRUE(out.success);
  EXPECT_EQ(out.json().at("channel_data").as_string(),
            R"({"user_id":"7","user_info":{"name":"Ann Lee"}})");

  Outcome bad = run(form("socket_id=1.2&channel_name=presence-room.5&user_id=7&user_info=%5B%5D"));
  EXPECT_FALSE(bad.success);
  EXPECT_THAT(host_.all_logs(), HasSubstr("`user_info` field is not a JSON object"));
}

TEST_F(PusherGuardTest, IdentityHeaderNameIsConfigurableOrOff) {
  TrustLoopback();
  cfg_.set("user_header", "X-Auth-User");
  Req req = form("socket_id=1.2&channel_name=presence-a");
  req.header("X-Herald-User", "1");
  EXPECT_FALSE(run(req).success);
  req.header("X-Auth-User", "2");
  Outcome out = run(req);
  ASSERT_TRUE(out.success);
  EXPECT_EQ(out.json().at("channel_data").as_string(), R"({"user_id":"2"})");

  cfg_.set("user_header", "");
  EXPECT_FALSE(run(req).success);
  EXPECT_THAT(host_.all_logs(), HasSubstr("no verified user identity"));
}

// ---- encrypted ----

TEST_F(PusherGuardTest, EncryptedChannelGetsTheSharedSecret) {
  cfg_.set("encryption_master_key_base64", std::string(kMasterKey));
  Outcome out = run(form("socket_id=123.456&channel_name=private-encrypted-bla"));
  EXPECT_TRUE(out.success);
  ASSERT_EQ(out.status, 200);
  const auto json = out.json();
  EXPECT_EQ(json.at("auth").as_string(), sig("123.456:private-encrypted-bla"));
  // pusher-http-node's value for this key and channel (also checked with openssl).
  EXPECT_EQ(json.at("shared_secret").as_string(), "nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=");
  EXPECT_EQ(json.size(), 2u);
  EXPECT_THAT(host_.asked, ElementsAre("bla"));
}

TEST_F(PusherGuardTest, EncryptedChannelWithoutMasterKeyIsAConfigError) {
  auto guard = make();
  Req req = form("socket_id=123.456&channel_name=private-encrypted-bla");
  Outcome out;
  try {
    guard.authorize(req.get(), out.result());
    FAIL() << "no error";
  } catch (const herald::sdk::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("`encryption_master_key_base64` is not set"));
  }
  EXPECT_FALSE(out.success);
  EXPECT_THAT(host_.asked, IsEmpty());
}

// ---- user sign-in ----

TEST_F(PusherGuardTest, UserSignInWithTheOfficialVector) {
  TrustLoopback();
  Req req = form("socket_id=1234.1234");
  req.path = "/pusher/user-auth";
  req.header("X-Herald-User", R"({"id":"12345"})");
  Outcome out = run(req);
  EXPECT_TRUE(out.success);
  EXPECT_FALSE(out.topics);
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(
      out.body,
      R"({"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba",)"
      R"("user_data":"{\"id\":\"12345\"}"})");
  EXPECT_THAT(host_.asked, IsEmpty());
}

TEST_F(PusherGuardTest, UserSignInCarriesInfoAndWatchlistWithAStringId) {
  TrustLoopback();
  Req req = form("socket_id=1.2");
  req.header("X-Herald-User", R"({"id":42,"info":{"name":"Ann"},"watchlist":["7","8"]})");
  Outcome out = run(req);
  ASSERT_TRUE(out.success);
  const std::string user_data(out.json().at("user_data").as_string());
  EXPECT_EQ(user_data, R"({"id":"42","user_info":{"name":"Ann"},"watchlist":["7","8"]})");
  EXPECT_EQ(out.json().at("auth").as_string(), sig("1.2::user::" + user_data));
}

TEST_F(PusherGuardTest, UserSignInWithoutIdentityIsDenied) {
  Outcome out = run(form("socket_id=1.2"));
  EXPECT_FALSE(out.success);
  EXPECT_FALSE(out.status);
  EXPECT_THAT(host_.all_logs(), HasSubstr("denied user sign-in: no verified user identity"));
  // No rule for the sign-in pseudo-topic: denied as well.
  host_.rules = [](std::string_view) { return int(HERALD_TOPIC_NO_MATCH); };
  EXPECT_FALSE(run(form("socket_id=1.2")).success);
  EXPECT_THAT(host_.all_logs(), HasSubstr("no topic rule matches `#signin`"));
}

// ---- issue 11: identity from a verified source ----

// Anyone could send X-Herald-User: without `trusted_proxies` the header is never believed.
TEST_F(PusherGuardTest, AClientSentIdentityHeaderIsNotTrustedByDefault) {
  Req presence = form("socket_id=1.2&channel_name=presence-room.5");
  presence.header("X-Herald-User", R"({"id":"admin"})");
  Outcome out = run(presence);
  EXPECT_FALSE(out.success);
  Req signin = form("socket_id=1.2");
  signin.header("X-Herald-User", R"({"id":"admin"})");
  EXPECT_FALSE(run(signin).success);
}

TEST_F(PusherGuardTest, TheIdentityHeaderIsTrustedOnlyFromTheListedProxies) {
  cfg_.json.emplace_back("trusted_proxies", R"(["10.0.0.0/8", "fd00::/8"])");
  for (const char* remote : {"10.1.2.3:40000", "[fd00::5]:40000", "[::ffff:10.9.9.9]:1"}) {
    Req req = form("socket_id=1.2&channel_name=presence-room.5");
    req.remote = remote;
    req.header("X-Herald-User", R"({"id":"7"})");
    Outcome out = run(req);
    ASSERT_TRUE(out.success) << remote;
    EXPECT_EQ(out.json().at("channel_data").as_string(), R"({"user_id":"7"})") << remote;
  }
  for (const char* remote : {"127.0.0.1:40000", "11.0.0.1:1", "[fe80::1]:1", "garbage"}) {
    Req req = form("socket_id=1.2&channel_name=presence-room.5");
    req.remote = remote;
    req.header("X-Herald-User", R"({"id":"7"})");
    EXPECT_FALSE(run(req).success) << remote;
  }
}

TEST_F(PusherGuardTest, PresenceIdentityComesFromTheVerifiedTokenClaims) {
  host_.claims = [](std::string_view topic) -> std::optional<std::string> {
    if (topic != "room.5") return std::nullopt;
    return R"({"sub":"7","user_info":{"name":"Ann"},"exp":1})";
  };
  Req req = form("socket_id=1.2&channel_name=presence-room.5");
  req.header("X-Herald-User", R"({"id":"admin"})");  // not from a trusted proxy: ignored
  Outcome out = run(req);
  ASSERT_TRUE(out.success);
  EXPECT_EQ(out.json().at("channel_data").as_string(),
            R"({"user_id":"7","user_info":{"name":"Ann"}})");
  EXPECT_EQ(out.json().at("auth").as_string(),
            sig(R"(1.2:presence-room.5:{"user_id":"7","user_info":{"name":"Ann"}})"));

  // Claims without a usable `sub`, or with a `user_info` that is no object: denied.
  for (const char* bad : {R"({"name":"x"})", R"({"sub":""})", R"({"sub":"1","user_info":"x"})"}) {
    host_.claims = [bad](std::string_view) { return std::optional<std::string>(bad); };
    EXPECT_FALSE(run(form("socket_id=1.2&channel_name=presence-room.5")).success) << bad;
  }
  // A rule that denies hands back no claims (the host never calls on_claims then).
  host_.claims = [](std::string_view) { return std::optional<std::string>(R"({"sub":"7"})"); };
  host_.rules = [](std::string_view) { return int(HERALD_TOPIC_DENY); };
  EXPECT_FALSE(run(form("socket_id=1.2&channel_name=presence-room.5")).success);
}

TEST_F(PusherGuardTest, SignInIdentityComesFromTheUserTopicRule) {
  host_.claims = [](std::string_view topic) -> std::optional<std::string> {
    if (topic != "#signin") return std::nullopt;
    return R"({"sub":42,"user_info":{"name":"Ann"},"watchlist":["7"]})";
  };
  Outcome out = run(form("socket_id=1.2"));
  ASSERT_TRUE(out.success);
  EXPECT_THAT(host_.asked, ElementsAre("#signin"));
  const std::string user_data(out.json().at("user_data").as_string());
  EXPECT_EQ(user_data, R"({"id":"42","user_info":{"name":"Ann"},"watchlist":["7"]})");
  EXPECT_EQ(out.json().at("auth").as_string(), sig("1.2::user::" + user_data));

  // `user_topic` names another pseudo-topic; its rule denying denies the sign-in.
  cfg_.set("user_topic", "users.me");
  host_.asked.clear();
  EXPECT_FALSE(run(form("socket_id=1.2")).success);  // no claims for users.me
  EXPECT_THAT(host_.asked, ElementsAre("users.me"));
  host_.rules = [](std::string_view) { return int(HERALD_TOPIC_DENY); };
  EXPECT_FALSE(run(form("socket_id=1.2")).success);
  EXPECT_THAT(host_.all_logs(), HasSubstr("the `users.me` rule denied it"));
}

TEST_F(PusherGuardTest, TrustedProxiesAndUserTopicAreChecked) {
  auto error = [this](const char* key, const char* json) {
    cfg_.json = {{key, json}};
    try {
      make();
    } catch (const herald::sdk::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("<accepted>");
  };
  EXPECT_THAT(error("trusted_proxies", R"(["10.0.0.0/33"])"), HasSubstr("`trusted_proxies` must be a list"));
  EXPECT_THAT(error("trusted_proxies", R"(["example.com"])"), HasSubstr("`example.com` is neither"));
  EXPECT_THAT(error("trusted_proxies", R"([1])"), HasSubstr("`trusted_proxies` must be a list"));
  EXPECT_THAT(error("trusted_proxies", R"("x")"), HasSubstr("`trusted_proxies` must be a list"));
  EXPECT_EQ(error("trusted_proxies", R"(["10.0.0.0/8", "::1", "fd00::/8", "192.168.1.1"])"), "<accepted>");
  // A header named on purpose with nobody trusted to set it would silently never work.
  cfg_.json.clear();
  cfg_.set("user_header", "X-Auth-User");
  try {
    make();
    ADD_FAILURE() << "accepted";
  } catch (const herald::sdk::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("`user_header` is trusted only from `trusted_proxies`"));
  }
  cfg_.set("user_header", "");
  EXPECT_NO_THROW(make());
  cfg_.set("user_topic", "");
  EXPECT_THROW(make(), herald::sdk::ConfigError);
}

TEST(PusherGuardCidr, MatchesPrefixesOfBothFamilies) {
  using namespace herald::pusher::guard_detail;
  auto in = [](const char* cidr, const char* remote) {
    auto c = parse_cidr(cidr);
    auto ip = remote_ip(remote);
    return c && ip && contains(*c, *ip);
  };
  EXPECT_TRUE(in("10.0.0.0/8", "10.255.0.1:1"));
  EXPECT_FALSE(in("10.0.0.0/8", "11.0.0.1:1"));
  EXPECT_TRUE(in("192.168.1.0/25", "192.168.1.127:1"));
  EXPECT_FALSE(in("192.168.1.0/25", "192.168.1.128:1"));
  EXPECT_TRUE(in("0.0.0.0/0", "8.8.8.8:53"));
  EXPECT_TRUE(in("::1", "[::1]:80"));
  EXPECT_FALSE(in("::1", "127.0.0.1:80"));  // families never mix
  EXPECT_TRUE(in("127.0.0.1", "[::ffff:127.0.0.1]:80"));  // IPv4-mapped counts as IPv4
  EXPECT_FALSE(parse_cidr("1.2.3.4/"));
  EXPECT_FALSE(parse_cidr("::/129"));
  EXPECT_FALSE(remote_ip("[::1:80"));
}

// ---- public channels ----

TEST_F(PusherGuardTest, PublicChannelNeedsNoSignatureButTheRulesStillDecide) {
  Outcome out = run(form("socket_id=1.2&channel_name=orders.1"));
  EXPECT_TRUE(out.success);
  EXPECT_THAT(*out.topics, ElementsAre("orders.1"));
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.body, "{}");
  EXPECT_THAT(host_.asked, ElementsAre("orders.1"));

  host_.rules = [](std::string_view) { return int(HERALD_TOPIC_NO_MATCH); };
  EXPECT_FALSE(run(form("socket_id=1.2&channel_name=orders.1")).success);
}

// ---- malformed requests ----

TEST_F(PusherGuardTest, MalformedSocketIdsAre400) {
  for (const char* body :
       {"channel_name=private-a", "socket_id=&channel_name=private-a",
        "socket_id=1234&channel_name=private-a", "socket_id=1234.&channel_name=private-a",
        "socket_id=.1&channel_name=private-a", "socket_id=1a.2&channel_name=private-a",
        "socket_id=1.2.3&channel_name=private-a", "socket_id=+1.2&channel_name=private-a",
        "socket_id=-1.2&channel_name=private-a"}) {
    Outcome out = run(form(body));
    EXPECT_FALSE(out.success) << body;
    EXPECT_EQ(out.status, 400) << body;
    EXPECT_THAT(out.error(), HasSubstr("socket_id")) << body;
    EXPECT_THAT(out.headers, ElementsAre(std::pair<std::string, std::string>("Content-Type",
                                                                             "application/json")));
  }
  EXPECT_EQ(run(form("channel_name=private-a")).error(), "`socket_id` is required");
  EXPECT_THAT(host_.asked, IsEmpty());
}

TEST_F(PusherGuardTest, MalformedChannelNamesAre400) {
  const std::string too_long = "private-" + std::string(193, 'a');  // 201 characters
  for (const std::string& channel :
       {std::string(), std::string("private-a%20b"), std::string("private-a+b"),
        std::string("private-%C3%BC"), std::string("private-a/b"), std::string("private-a:b"),
        std::string("%23server"), too_long}) {
    Outcome out = run(form("socket_id=1.2&channel_name=" + channel));
    EXPECT_EQ(out.status, 400) << channel;
    EXPECT_FALSE(out.success) << channel;
    EXPECT_EQ(out.error(), "`channel_name` is invalid") << channel;
  }
  EXPECT_THAT(host_.asked, IsEmpty());
  // 200 characters is the limit, not beyond it.
  Outcome ok = run(form("socket_id=1.2&channel_name=" + too_long.substr(1)));
  EXPECT_TRUE(ok.success);
}

TEST_F(PusherGuardTest, FormDecoding) {
  // Every allowed character, percent-encoded the way browsers encode them.
  Outcome out = run(form("socket_id=1234.1234&channel_name=private-azAZ9_%3D%40%2C.%3B"));
  ASSERT_TRUE(out.success);
  EXPECT_EQ(
      out.json().at("auth").as_string(),
      "278d425bdf160c739803:208cbbce2a22fd7d7c3509046b17a97b99d345cf4c195bc0d54af9004a022b0b");
  EXPECT_THAT(*out.topics, ElementsAre("private-azAZ9_=@,.;"));
  // Unencoded too, with the fields in another order and an extra one.
  Outcome raw = run(form("channel_name=private-azAZ9_=@,.;&x=1&socket_id=1234.1234"));
  EXPECT_EQ(raw.body, out.body);
  // Lowercase hex escapes, and an encoded key.
  Outcome lower = run(form("socket%5Fid=1234.1234&channel_name=private-azAZ9_%3d%40%2c.%3b"));
  EXPECT_EQ(lower.body, out.body);

  for (const char* bad :
       {"socket_id=1.2&channel_name=private-a%", "socket_id=1.2&channel_name=private-a%4",
        "socket_id=1.2&channel_name=private-a%zz", "socket_id=1%2&channel_name=private-a"}) {
    Outcome o = run(form(bad));
    EXPECT_EQ(o.status, 400) << bad;
    EXPECT_EQ(o.error(), "malformed percent-encoding in the request") << bad;
  }
  Outcome twice = run(form("socket_id=1.2&channel_name=private-a&channel_name=private-b"));
  EXPECT_EQ(twice.status, 400);
  EXPECT_EQ(twice.error(), "`channel_name` is given more than once");
}

TEST_F(PusherGuardTest, GetWithTheQueryString) {
  Req req;
  req.method = "GET";
  req.headers.clear();
  req.query = "socket_id=1234.1234&channel_name=private-foobar";
  Outcome out = run(req);
  ASSERT_TRUE(out.success);
  EXPECT_EQ(
      out.json().at("auth").as_string(),
      "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");

  // The body wins over the query string; the query fills what the body lacks.
  Req mixed = form("channel_name=private-foobar");
  mixed.query = "socket_id=1234.1234&channel_name=private-other";
  Outcome m = run(mixed);
  ASSERT_TRUE(m.success);
  EXPECT_EQ(m.body, out.body);

  Req bad;
  bad.method = "GET";
  bad.query = "socket_id=%G1";
  EXPECT_EQ(run(bad).status, 400);
}

TEST_F(PusherGuardTest, JsonBody) {
  Req req;
  req.headers = {{"content-type", "Application/JSON; charset=utf-8"}};
  req.body = R"({"socket_id":"1234.1234","channel_name":"private-foobar"})";
  Outcome out = run(req);
  ASSERT_TRUE(out.success);
  EXPECT_EQ(
      out.json().at("auth").as_string(),
      "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");

  req.body = R"({"socket_id":1234.1234,"channel_name":"private-foobar"})";
  Outcome number = run(req);
  EXPECT_EQ(number.status, 400);
  EXPECT_EQ(number.error(), "`socket_id` must be a string");
  req.body = "[1]";
  EXPECT_EQ(run(req).error(), "the request body is not a JSON object");
}

// ---- configuration ----

std::string validate_error(Cfg& cfg) {
  try {
    herald::pusher::PusherGuard::validate(cfg.get());
  } catch (const herald::sdk::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PusherGuardConfig, ValidateChecksEverySetting) {
  Cfg ok;
  EXPECT_EQ(validate_error(ok), "");
  ok.set("encryption_master_key_base64", std::string(kMasterKey)).set("user_header", "X-User");
  ok.json = {{"user_from_form", "false"}, {"trusted_proxies", R"(["10.0.0.1"])"}};
  EXPECT_EQ(validate_error(ok), "");

  Cfg no_key;
  no_key.remove("key");
  EXPECT_EQ(validate_error(no_key), "`key` is required");
  Cfg empty_secret;
  empty_secret.set("secret", "");
  EXPECT_EQ(validate_error(empty_secret), "`secret` is required");
  Cfg numeric_key;
  numeric_key.remove("key");
  numeric_key.json = {{"key", "42"}};
  EXPECT_EQ(validate_error(numeric_key), "`key` must be a string");

  const std::string bad_b64 = "not*base64*at*all*but*secret*ish";
  Cfg bad_master;
  bad_master.set("encryption_master_key_base64", bad_b64);
  EXPECT_EQ(validate_error(bad_master), "`encryption_master_key_base64` must be valid base64");
  Cfg short_master;
  short_master.set("encryption_master_key_base64", "c2hvcnQta2V5");  // "short-key"
  EXPECT_EQ(validate_error(short_master),
            "`encryption_master_key_base64` must decode to 32 bytes, not 9");

  Cfg bad_header;
  bad_header.set("user_header", "X User");
  EXPECT_THAT(validate_error(bad_header), HasSubstr("`user_header` must be an HTTP header name"));
  Cfg bad_bool;
  bad_bool.set("user_from_form", "yes");
  EXPECT_EQ(validate_error(bad_bool), "`user_from_form` must be a boolean");

  // The constructor applies the same checks.
  FakeHost host;
  EXPECT_THROW(herald::pusher::PusherGuard(host.host(), short_master.get()),
               herald::sdk::ConfigError);
}

// ---- concurrency ----

TEST_F(PusherGuardTest, ConcurrentAuthorizationsAreIndependent) {
  cfg_.set("encryption_master_key_base64", std::string(kMasterKey));
  const auto guard = make();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string socket = std::to_string(t) + "." + std::to_string(i);
        Req req = form("socket_id=" + socket + "&channel_name=private-encrypted-bla");
        Outcome out;
        guard.authorize(req.get(), out.result());
        if (!out.success ||
            out.json().at("auth").as_string() != sig(socket + ":private-encrypted-bla"))
          ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(failures, ElementsAre(0, 0, 0, 0));
}

}  // namespace
