// The real `pusher` plugin as a guard, loaded through herald::Runtime from a TOML config with
// `[[authorize.topics]]` rules: the host's rules decide, the plugin signs. Checks the full
// AuthorizationStatus (success, topics, response status, headers and body) that the host's
// authorize path would send, with the official Pusher vectors where they apply.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "auth/auth_request.hpp"
#include "auth/jwt.hpp"
#include "broadcast/broadcast.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_support::TempDir;

const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;
constexpr const char* kSecret = "7ad3773142a6692b25b8";
constexpr const char* kMasterKey = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=";

constexpr const char* kConfig = R"(
default = "pusher"

[authorize]
path = "/broadcasting/auth"

[[authorize.topics]]
pattern = "team.{team}"
rule = { header = "X-Team", equals = "{team}" }
[[authorize.topics]]
pattern = "blocked.{id}"
rule = { allow = false }
[[authorize.topics]]
pattern = "foobar"
rule = { allow = true }
[[authorize.topics]]
pattern = "bla"
rule = { allow = true }
[[authorize.topics]]
pattern = "news"
rule = { allow = true }
[[authorize.topics]]
pattern = "room.{id}"
rule = { jwt = { secret = "guard-test-jwt-secret-0123456789abcdef" } }
[[authorize.topics]]
pattern = "#signin"
rule = { jwt = { secret = "guard-test-jwt-secret-0123456789abcdef" } }

[connections.pusher]
driver = "pusher"
app_id = "3"
key = "278d425bdf160c739803"
secret = "7ad3773142a6692b25b8"
encryption_master_key_base64 = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU="
scheme = "http"
host = "127.0.0.1"
port = 9
trusted_proxies = ["127.0.0.1"]

[connections.plain]
driver = "pusher"
app_id = "3"
key = "278d425bdf160c739803"
secret = "7ad3773142a6692b25b8"
scheme = "http"
host = "127.0.0.1"
port = 9
user_header = "X-Auth-User"
trusted_proxies = ["127.0.0.0/8"]

# No trusted proxy: a client-sent identity header is ignored; the verified JWT is the user.
[connections.strict]
driver = "pusher"
app_id = "3"
key = "278d425bdf160c739803"
secret = "7ad3773142a6692b25b8"
scheme = "http"
host = "127.0.0.1"
port = 9
)";

std::string Token(const boost::json::object& extra) {
  boost::json::object claims = extra;
  claims["exp"] = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  600;
  return sign_jwt(claims, "guard-test-jwt-secret-0123456789abcdef");
}

class PusherGuardPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path config = dir_.write("broadcasting.toml", kConfig);
    RuntimeOptions options;
    options.config_file = config;
    options.plugin_dirs = {kPlugins};
    options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    auto logger = std::make_shared<spdlog::logger>(
        "pusher-guard-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    logger->set_level(spdlog::level::trace);
    options.logger = logger;
    runtime_ = std::make_unique<Runtime>(options);
  }

  void TearDown() override {
    EXPECT_THAT(log_.str(), Not(HasSubstr(kSecret)));
    EXPECT_THAT(log_.str(), Not(HasSubstr(kMasterKey)));
  }

  Guard& guard(const std::string& connection = "") {
    auto broadcast = runtime_->manager().connection(connection);
    EXPECT_NE(broadcast, nullptr);
    keep_.push_back(broadcast);
    Guard* g = broadcast->guard();
    EXPECT_NE(g, nullptr) << "the pusher plugin is not a guard";
    return *g;
  }

  static AuthRequest form(const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    AuthRequest r;
    r.method = "POST";
    r.path = "/broadcasting/auth";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    for (auto& h : headers) r.headers.push_back(std::move(h));
    r.body = body;
    r.remote_address = "127.0.0.1:40000";
    return r;
  }

  static std::string body_of(const AuthorizationStatus& s) {
    return s.response() ? s.response()->body : "<no response>";
  }

  TempDir dir_;
  std::ostringstream log_;
  std::unique_ptr<Runtime> runtime_;
  std::vector<std::shared_ptr<Broadcast>> keep_;
};

AuthResponse json_response(int status, std::string body) {
  return AuthResponse{status, {{"Content-Type", "application/json"}}, std::move(body)};
}

TEST_F(PusherGuardPluginTest, PrivateChannelAllowedByAHeaderRule) {
  const auto s = guard().authorize(
      form("socket_id=1234.1234&channel_name=private-team.red", {{"X-Team", "red"}}));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.topics());
  EXPECT_THAT(*s.topics(), ElementsAre("private-team.red"));
  // Expected values computed once with
  //   printf '%s' "$SOCKET:$CHANNEL" | openssl dgst -sha256 -hmac "$SECRET"
  EXPECT_EQ(
      s.response(),
      json_response(
          200,
          R"({"auth":"278d425bdf160c739803:535f3da41abd0637d26c28924ad3ab403170e51f51c5087d1a44f15cb5e8594d"})"));
}

TEST_F(PusherGuardPluginTest, OfficialPrivateVectorThroughThePlugin) {
  const auto s = guard().authorize(form("socket_id=1234.1234&channel_name=private-foobar"));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.response());
  EXPECT_EQ(
      *s.response(),
      json_response(
          200,
          R"({"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"})"));
}

TEST_F(PusherGuardPluginTest, DeniedAndUnmatchedChannelsGet403) {
  for (const AuthRequest& r :
       {form("socket_id=1.2&channel_name=private-team.red", {{"X-Team", "blue"}}),
        form("socket_id=1.2&channel_name=private-team.red"),
        form("socket_id=1.2&channel_name=private-blocked.1"),
        form("socket_id=1.2&channel_name=private-unknown.1")}) {
    const auto s = guard().authorize(r);
    EXPECT_FALSE(s.success()) << r.body;
    EXPECT_FALSE(s.has_response()) << r.body << " -> " << body_of(s);  // the host answers 403
  }
}

TEST_F(PusherGuardPluginTest, PresenceWithTheIdentityHeader) {
  const auto s =
      guard().authorize(form("socket_id=1234.1234&channel_name=presence-foobar",
                             {{"X-Herald-User", R"({"id":10,"info":{"name":"Mr. Channels"}})"}}));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.response());
  EXPECT_EQ(
      *s.response(),
      json_response(
          200,
          R"({"auth":"278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80",)"
          R"("channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}"})"));
}

TEST_F(PusherGuardPluginTest, PresenceWithoutIdentityIsDeniedAndLogged) {
  const auto s = guard().authorize(form("socket_id=1.2&channel_name=presence-foobar"));
  EXPECT_FALSE(s.success());
  EXPECT_FALSE(s.has_response());
  EXPECT_THAT(log_.str(),
              HasSubstr("[pusher] pusher auth: denied presence-foobar: no verified user identity"));
}

// Issue 11, through the real host and plugin (SDK ABI 1.3 authorize_topic_claims): the user of
// a presence channel is the verified token's `sub`/`user_info`; a client-sent header is not.
TEST_F(PusherGuardPluginTest, PresenceIdentityFromTheVerifiedJwtNotFromAClientHeader) {
  const std::string token = Token({{"sub", "7"}, {"user_info", {{"name", "Ann"}}}});
  const auto s = guard("strict").authorize(
      form("socket_id=1.2&channel_name=presence-room.1",
           {{"Authorization", "Bearer " + token}, {"X-Herald-User", R"({"id":"admin"})"}}));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.response());
  const auto reply = boost::json::parse(s.response()->body).as_object();
  EXPECT_EQ(reply.at("channel_data").as_string(), R"({"user_id":"7","user_info":{"name":"Ann"}})");

  // The header alone, from an address nobody trusts: no presence.
  const auto forged = guard("strict").authorize(
      form("socket_id=1.2&channel_name=presence-foobar", {{"X-Herald-User", R"({"id":"admin"})"}}));
  EXPECT_FALSE(forged.success());
  // A bad token: the rule denies.
  EXPECT_FALSE(guard("strict")
                   .authorize(form("socket_id=1.2&channel_name=presence-room.1",
                                   {{"Authorization", "Bearer x.y.z"}}))
                   .success());
}

TEST_F(PusherGuardPluginTest, SignInIdentityFromTheUserTopicRule) {
  const std::string token = Token({{"sub", "12345"}});
  const auto s = guard("strict").authorize(
      form("socket_id=1234.1234", {{"Authorization", "Bearer " + token}}));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.response());
  // The official sign-in vector: the same user_data as the header-based test below.
  EXPECT_EQ(
      *s.response(),
      json_response(
          200,
          R"({"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba",)"
          R"("user_data":"{\"id\":\"12345\"}"})"));
  EXPECT_FALSE(guard("strict")
                   .authorize(form("socket_id=1234.1234", {{"X-Herald-User", R"({"id":"12345"})"}}))
                   .success());
}

TEST_F(PusherGuardPluginTest, EncryptedChannelWithAndWithoutMasterKey) {
  const auto s = guard().authorize(form("socket_id=123.456&channel_name=private-encrypted-bla"));
  EXPECT_TRUE(s.success());
  ASSERT_TRUE(s.response());
  const auto reply = boost::json::parse(s.response()->body).as_object();
  EXPECT_EQ(reply.at("shared_secret").as_string(), "nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=");
  EXPECT_EQ(
      reply.at("auth").as_string(),
      "278d425bdf160c739803:ed31befa60bf1e362ccecf5845cfeec76a7fb3ab250b12ac4724800ff8d458c6");
  EXPECT_EQ(reply.size(), 2u);

  // The `plain` connection has no master key: the plugin fails, the host denies and logs why.
  const auto denied =
      guard("plain").authorize(form("socket_id=123.456&channel_name=private-encrypted-bla"));
  EXPECT_FALSE(denied.success());
  EXPECT_FALSE(denied.has_response());
  EXPECT_THAT(log_.str(), HasSubstr("`encryption_master_key_base64` is not set"));
}

TEST_F(PusherGuardPluginTest, UserSignIn) {
  const auto s =
      guard().authorize(form("socket_id=1234.1234", {{"X-Herald-User", R"({"id":"12345"})"}}));
  EXPECT_TRUE(s.success());
  EXPECT_FALSE(s.topics());
  ASSERT_TRUE(s.response());
  EXPECT_EQ(
      *s.response(),
      json_response(
          200,
          R"({"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba",)"
          R"("user_data":"{\"id\":\"12345\"}"})"));
  // The `plain` connection reads the identity from another header.
  const auto other =
      guard("plain").authorize(form("socket_id=1234.1234", {{"X-Auth-User", R"({"id":"12345"})"}}));
  EXPECT_EQ(other.response(), s.response());
}

TEST_F(PusherGuardPluginTest, PublicChannelAllowedWithoutSignature) {
  const auto s = guard().authorize(form("socket_id=1.2&channel_name=news"));
  EXPECT_TRUE(s.success());
  EXPECT_THAT(*s.topics(), ElementsAre("news"));
  EXPECT_EQ(s.response(), json_response(200, "{}"));
  EXPECT_FALSE(guard().authorize(form("socket_id=1.2&channel_name=sports")).success());
}

TEST_F(PusherGuardPluginTest, MalformedRequestsGet400) {
  const auto s = guard().authorize(form("socket_id=abc&channel_name=private-foobar"));
  EXPECT_FALSE(s.success());
  EXPECT_EQ(s.response(), json_response(400, R"({"error":"`socket_id` is invalid"})"));
  const auto t = guard().authorize(form("socket_id=1.2&channel_name=private-a%20b"));
  EXPECT_EQ(t.response(), json_response(400, R"({"error":"`channel_name` is invalid"})"));
}

TEST_F(PusherGuardPluginTest, GetWithAQueryString) {
  AuthRequest r;
  r.method = "GET";
  r.path = "/broadcasting/auth";
  r.query = "socket_id=1234.1234&channel_name=private-foobar";
  const auto s = guard().authorize(r);
  EXPECT_TRUE(s.success());
  EXPECT_THAT(body_of(s),
              HasSubstr("58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"));
}

TEST_F(PusherGuardPluginTest, ConcurrentRequestsThroughThePlugin) {
  Guard& g = guard();
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const bool allowed = (i % 2) == 0;
        const auto s = g.authorize(form("socket_id=" + std::to_string(t) + "." + std::to_string(i) +
                                            "&channel_name=private-team.red",
                                        {{"X-Team", allowed ? "red" : "blue"}}));
        if (s.success() != allowed || s.has_response() != allowed) ++bad[t];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_THAT(bad, ElementsAre(0, 0, 0, 0));
}

TEST(PusherGuardPluginCheck, BadGuardSettingsAreConfigErrors) {
  TempDir dir;
  const fs::path config = dir.write("broadcasting.toml", R"(
default = "pusher"
[connections.pusher]
driver = "pusher"
app_id = "3"
key = "k"
secret = "a-secret-value"
encryption_master_key_base64 = "c2hvcnQta2V5"
scheme = "http"
host = "127.0.0.1"
)");
  RuntimeOptions options;
  options.config_file = config;
  options.plugin_dirs = {kPlugins};
  options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  options.logger = std::make_shared<spdlog::logger>("pusher-guard-check");
  Runtime runtime(options);
  const auto problems = runtime.check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0],
              HasSubstr("`encryption_master_key_base64` must decode to 32 bytes, not 9"));
  EXPECT_THAT(problems[0], Not(HasSubstr("c2hvcnQta2V5")));
  EXPECT_THAT(problems[0], Not(HasSubstr("a-secret-value")));
}

}  // namespace
}  // namespace herald
