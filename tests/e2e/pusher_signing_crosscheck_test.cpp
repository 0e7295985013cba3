// Pusher signing cross-checked byte for byte against the official `pusher` npm library
// (pusher-http-node, tests/e2e/node_modules/pusher) run by node (tests/e2e/js/pusher_sign.js):
// - REST: signed_query vs the library's createSignedQueryString at the same fixed timestamp;
// - REST on the wire: the library's trigger() against a local HTTP server that records the
//   request, re-signed by signed_query with the recorded auth_timestamp;
// - channel authorization and user sign-in: PusherGuard's responses vs the library's
//   authorizeChannel / authenticateUser for the same socket, channel and user, both in-process
//   and through `herald serve`'s authorize path with the real pusher plugin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "../../plugins/common/pusher/pusher_guard.hpp"
#include "../../plugins/common/pusher/pusher_signing.hpp"
#include "../integration/cli_test_support.hpp"
#include "background_process.hpp"
#include "herald_server.hpp"
#include "test_files.hpp"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using herald::pusher::Credentials;

const fs::path kSource = HERALD_TEST_SOURCE_DIR;
const fs::path kNodeModules = HERALD_TEST_NODE_MODULES;

// Runs every case through the npm library in one node process; one result per case.
json::array sign_with_npm(const json::array& cases) {
  const auto node = herald::testing_support::find_program("node");
  if (!node) throw std::runtime_error("node is not on PATH (scripts/install-deps.sh)");
  if (!fs::exists(kNodeModules / "pusher" / "package.json"))
    throw std::runtime_error("the npm `pusher` library is missing (scripts/install-deps.sh)");
  herald::cli_test::RunOptions options;
  options.env = {{"NODE_PATH", kNodeModules.string()}};
  options.stdin_text = json::serialize(cases);
  options.timeout = std::chrono::seconds(60);  // generous: a loaded machine, sanitizer runs
  const auto result = herald::cli_test::RunProcess(
      *node, {(kSource / "tests/e2e/js/pusher_sign.js").string()}, options);
  if (result.exit_code != 0)
    throw std::runtime_error("pusher_sign.js failed (exit " + std::to_string(result.exit_code) +
                             "): " + result.err);
  json::array out = json::parse(result.out).as_array();
  if (out.size() != cases.size()) throw std::runtime_error("pusher_sign.js: wrong result count");
  return out;
}

std::string text(const json::value& v, std::string_view key) {
  const json::object& o = v.as_object();
  if (const json::value* error = o.if_contains("error"))
    throw std::runtime_error("the npm library refused the case: " +
                             std::string(error->as_string()));
  return std::string(o.at(key).as_string());
}

// ---- REST signing ----

struct RestCase {
  Credentials credentials;
  std::string method, path, body;
  std::int64_t timestamp;
  std::vector<std::pair<std::string, std::string>> params;
};

TEST(PusherSigningCrosscheck, RestQueryStringsMatchTheNpmLibrary) {
  const Credentials docs{"3", "278d425bdf160c739803", "7ad3773142a6692b25b8"};
  const Credentials tofu{"1234", "f00d", "tofu"};
  const std::vector<RestCase> cases = {
      // Vector A and both vector B cases.
      {docs,
       "POST",
       "/apps/3/events",
       R"({"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"})",
       1353088179,
       {}},
      {tofu, "GET", "/event", "example body", 1234567890, {}},
      {tofu, "GET", "/event", "", 1234567890, {{"foo", "bar"}, {"baz", "123454321"}}},
      // A batch with non-ASCII data (md5 over the UTF-8 bytes), a lowercase method.
      {tofu,
       "post",
       "/apps/1234/batch_events",
       R"({"batch":[{"name":"é","channel":"a","data":"{\"emoji\":\"😀\"}"}]})",
       1700000000,
       {}},
      // Channel queries: params sort in between auth_* keys, values are not escaped.
      {docs,
       "GET",
       "/apps/3/channels",
       "",
       1700000001,
       {{"filter_by_prefix", "presence-"}, {"info", "user_count,subscription_count"}}},
      {docs, "GET", "/apps/3/channels/presence-room.1/users", "", 1700000002, {{"Z", "1"}}},
      // A secret and key with characters that need care elsewhere.
      {Credentials{"9", "key-with_odd.chars", "s3cr3t/+=%&"},
       "POST",
       "/apps/9/events",
       R"({"name":"ev","channel":"c","data":"x"})",
       1,
       {}},
  };
  json::array requests;
  for (const RestCase& c : cases) {
    json::object params;
    for (const auto& [k, v] : c.params) params[k] = v;
    requests.push_back(json::object{{"op", "rest"},
                                    {"key", c.credentials.key},
                                    {"secret", c.credentials.secret},
                                    {"method", c.method},
                                    {"path", c.path},
                                    {"body", c.body},
                                    {"params", params},
                                    {"timestamp", c.timestamp}});
  }
  const json::array npm = sign_with_npm(requests);
  for (size_t i = 0; i < cases.size(); ++i) {
    const RestCase& c = cases[i];
    EXPECT_EQ(herald::pusher::signed_query(c.credentials, c.method, c.path, c.body, c.timestamp,
                                           c.params),
              text(npm[i], "query"))
        << "case " << i << ": " << c.method << " " << c.path;
  }
  // Sanity: the official vector A signature is what both produced.
  EXPECT_THAT(
      text(npm[0], "query"),
      ::testing::EndsWith(
          "auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"));
}

TEST(PusherSigningCrosscheck, ReservedParamsAreRefusedByBoth) {
  const json::array npm = sign_with_npm(json::array{json::object{{"op", "rest"},
                                                                 {"key", "k"},
                                                                 {"secret", "s"},
                                                                 {"method", "GET"},
                                                                 {"path", "/x"},
                                                                 {"params", {{"auth_key", "1"}}},
                                                                 {"timestamp", 1}}});
  EXPECT_TRUE(npm[0].as_object().contains("error"));
  EXPECT_THROW(herald::pusher::signed_query(Credentials{"1", "k", "s"}, "GET", "/x", "", 1,
                                            {{"auth_key", "1"}}),
               std::invalid_argument);
}

// The npm library's trigger() on the wire: what it sends must be exactly what signed_query
// produces for the same method, path, body and (recorded) timestamp.
TEST(PusherSigningCrosscheck, TriggerOnTheWireIsReproducedBySignedQuery) {
  const Credentials app{"4321", "wire-key", "wire-secret"};
  json::array cases;
  for (const json::value& channels :
       {json::value("orders.1"), json::value(json::array{"a", "private-b", "presence-c"})}) {
    cases.push_back(json::object{{"op", "trigger"},
                                 {"app_id", app.app_id},
                                 {"key", app.key},
                                 {"secret", app.secret},
                                 {"channels", channels},
                                 {"event", "order.shipped"},
                                 {"data", {{"id", 42}, {"note", "é \"quoted\""}}}});
  }
  const json::array npm = sign_with_npm(cases);
  for (const json::value& r : npm) {
    ASSERT_FALSE(r.as_object().contains("error")) << r;
    EXPECT_EQ(r.as_object().at("status").as_int64(), 200) << r;
    const json::array& recorded = r.as_object().at("requests").as_array();
    ASSERT_EQ(recorded.size(), 1u) << r;
    const json::object& req = recorded[0].as_object();
    const std::string method(req.at("method").as_string()), target(req.at("target").as_string()),
        body(req.at("body").as_string());
    const size_t q = target.find('?');
    ASSERT_NE(q, std::string::npos) << target;
    const std::string path = target.substr(0, q), query = target.substr(q + 1);
    EXPECT_EQ(method, "POST");
    EXPECT_EQ(path, "/apps/4321/events");
    EXPECT_THAT(body, ::testing::HasSubstr(R"("name":"order.shipped")"));
    // The library read the clock itself: sign again at the timestamp it sent.
    const size_t ts_at = query.find("auth_timestamp=");
    ASSERT_NE(ts_at, std::string::npos) << query;
    const size_t ts_end = query.find('&', ts_at);
    const std::int64_t ts = std::stoll(query.substr(ts_at + 15, ts_end - ts_at - 15));
    EXPECT_EQ(herald::pusher::signed_query(app, method, path, body, ts), query);
  }
}

// ---- channel authorization and user sign-in through the guard ----

struct AllowAllHost {
  herald_host_api api{};
  AllowAllHost() {
    api.struct_size = sizeof api;
    api.host_abi_version = HERALD_ABI_VERSION;
    api.log = [](void*, int, herald_str) {};
    api.log_enabled = [](void*, int) { return 0; };
    api.authorize_topic = [](void*, const herald_request*, herald_str, herald_param_fn, void*,
                             herald_error*) { return int(HERALD_TOPIC_ALLOW); };
  }
};

struct GuardConfig {
  std::vector<std::pair<std::string, std::string>> values;
  std::vector<herald_config_entry> entries;
  herald_config c{};
  explicit GuardConfig(std::vector<std::pair<std::string, std::string>> v) : values(std::move(v)) {
    for (auto& [k, val] : values)
      entries.push_back({herald::sdk::str(k), herald::sdk::str(val), 1});
    c.struct_size = sizeof c;
    c.connection = herald::sdk::str("pusher");
    c.entries = entries.data();
    c.entry_count = entries.size();
  }
};

// The guard's JSON reply to a form POST, with an optional identity header.
json::object guard_reply(const herald::pusher::PusherGuard& guard, const std::string& form,
                         const std::optional<std::string>& user) {
  std::vector<herald_header> headers{
      {herald::sdk::str("Content-Type"), herald::sdk::str("application/x-www-form-urlencoded")}};
  if (user) headers.push_back({herald::sdk::str("X-Herald-User"), herald::sdk::str(*user)});
  herald_request req{};
  req.struct_size = sizeof req;
  req.method = herald::sdk::str("POST");
  req.path = herald::sdk::str("/broadcasting/auth");
  req.headers = headers.data();
  req.header_count = headers.size();
  req.body = herald::sdk::str(form);
  req.remote_address = herald::sdk::str("127.0.0.1:40000");
  struct Out {
    int status = 0;
    std::string body;
  } out;
  herald_auth_result result{};
  result.struct_size = sizeof result;
  result.ctx = &out;
  result.set_success = [](void*, int) {};
  result.add_topic = [](void*, herald_str) {};
  result.set_attributes = [](void*, herald_str) {};
  result.set_response = [](void* ctx, int status, herald_str body) {
    static_cast<Out*>(ctx)->status = status;
    static_cast<Out*>(ctx)->body = herald::sdk::view(body);
  };
  result.add_response_header = [](void*, herald_str, herald_str) {};
  guard.authorize(herald::sdk::Request(&req), herald::sdk::AuthResult(&result));
  if (out.status != 200) throw std::runtime_error("guard answered " + std::to_string(out.status));
  return json::parse(out.body).as_object();
}

constexpr const char* kKey = "278d425bdf160c739803";
constexpr const char* kSecret = "7ad3773142a6692b25b8";
constexpr const char* kMaster = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=";

struct AuthCase {
  std::string socket_id;
  std::optional<std::string> channel;  // nullopt: user sign-in
  std::optional<std::string> user;     // the X-Herald-User header

  std::string form() const {
    // pusher-js posts the fields form-encoded; every channel character but these is unreserved.
    std::string out = "socket_id=" + socket_id;
    if (channel) {
      out += "&channel_name=";
      for (char c : *channel) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        if (c == '=' || c == '@' || c == ',' || c == ';')
          out += {'%', kHex[(c >> 4) & 15], kHex[c & 15]};
        else
          out += c;
      }
    }
    return out;
  }

  // The same request for the npm library, with the identity as the app would hand it over.
  json::object npm_request() const {
    json::object request{{"key", kKey}, {"secret", kSecret}, {"socket_id", socket_id}};
    json::object identity;
    if (user && user->front() == '{')
      identity = json::parse(*user).as_object();
    else if (user)
      identity = {{"id", *user}};
    if (channel) {
      request["op"] = "channel";
      request["channel"] = *channel;
      request["master_key_base64"] = kMaster;
      if (channel->starts_with("presence-")) {
        json::object data{{"user_id", identity.at("id")}};
        if (identity.contains("info")) data["user_info"] = identity.at("info");
        request["data"] = data;
      }
    } else {
      request["op"] = "user";
      // Pusher wants a string id in user_data.
      json::object data{{"id", identity.at("id").is_string()
                                   ? identity.at("id")
                                   : json::value(json::serialize(identity.at("id")))}};
      if (identity.contains("info")) data["user_info"] = identity.at("info");
      if (identity.contains("watchlist")) data["watchlist"] = identity.at("watchlist");
      request["user_data"] = data;
    }
    return request;
  }
};

const std::vector<AuthCase>& auth_cases() {
  static const std::vector<AuthCase> cases = {
      {"1234.1234", "private-foobar", std::nullopt},
      {"1234.1234", "private-azAZ9_=@,.;", std::nullopt},
      {"98765.4321", "private-orders.42", std::nullopt},
      {"123.456", "private-encrypted-bla", std::nullopt},
      {"123.456", "private-encrypted-chat.room-7", std::nullopt},
      {"1234.1234", "presence-foobar", R"({"id":10,"info":{"name":"Mr. Channels"}})"},
      {"1.2", "presence-room.5", "user-77"},
      {"3.4", "presence-room.5",
       R"({"id":"u\"1","info":{"name":"Zoë \"Q\" \\ / 😀","tab":"a\tb\u0001","n":[1,-2,true,null]}})"},
      {"1234.1234", std::nullopt, R"({"id":"12345"})"},
      {"5.6", std::nullopt, R"({"id":99,"info":{"name":"Ann"},"watchlist":["1","2"]})"},
  };
  return cases;
}

// Same fields, each string byte for byte (the order of the JSON object's members is free).
void expect_same_reply(const json::object& ours, const json::object& theirs) {
  ASSERT_FALSE(theirs.contains("error")) << theirs;
  EXPECT_EQ(ours.size(), theirs.size()) << json::serialize(ours) << " vs " << theirs;
  for (const auto& member : theirs) {
    ASSERT_TRUE(ours.contains(member.key())) << member.key();
    EXPECT_EQ(std::string(ours.at(member.key()).as_string()),
              std::string(member.value().as_string()))
        << member.key();
  }
}

json::array npm_replies() {
  json::array requests;
  for (const AuthCase& c : auth_cases()) requests.push_back(c.npm_request());
  return sign_with_npm(requests);
}

TEST(PusherSigningCrosscheck, GuardRepliesMatchTheNpmLibrary) {
  AllowAllHost host;
  GuardConfig config(
      {{"key", kKey}, {"secret", kSecret}, {"encryption_master_key_base64", kMaster},
       {"trusted_proxies", "127.0.0.1"}});  // the identity header comes from a trusted proxy
  const herald::pusher::PusherGuard guard(herald::sdk::Host(&host.api),
                                          herald::sdk::Config(&config.c));
  const json::array npm = npm_replies();
  std::vector<json::object> ours;
  for (size_t i = 0; i < auth_cases().size(); ++i) {
    const AuthCase& c = auth_cases()[i];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.channel.value_or("user sign-in"));
    ours.push_back(guard_reply(guard, c.form(), c.user));
    expect_same_reply(ours.back(), npm[i].as_object());
  }
  // The official vectors came out of both.
  EXPECT_EQ(
      ours[0].at("auth").as_string(),
      "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
  EXPECT_EQ(
      ours[5].at("auth").as_string(),
      "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80");
  EXPECT_EQ(
      ours[8].at("auth").as_string(),
      "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba");
}

// The whole way: `herald serve` with the real pusher plugin as the default connection, its
// authorize path asked over HTTP as pusher-js asks it.
TEST(PusherSigningCrosscheck, HeraldServeAuthorizePathMatchesTheNpmLibrary) {
  using herald::testing_support::HeraldServer;
  herald::testing_support::TempDir dir;
  const std::string config = std::string(R"(
default = "pusher"
plugin_dirs = [")") + HERALD_TEST_PLUGIN_DIR +
                             R"("]

[authorize]
path = "/broadcasting/auth"
[[authorize.topics]]
pattern = "blocked.{id}"
rule = { allow = false }
[[authorize.topics]]
pattern = "{anything}"
rule = { allow = true }
[[authorize.topics]]
pattern = "{a}.{b}"
rule = { allow = true }

[connections.pusher]
driver = "pusher"
app_id = "3"
key = ")" + kKey + R"("
secret = ")" + kSecret + R"("
encryption_master_key_base64 = ")" +
                             kMaster + R"("
scheme = "http"
host = "127.0.0.1"
port = 9
trusted_proxies = ["127.0.0.1"]   # the test sends X-Herald-User as a trusted proxy would
)";
  HeraldServer server(dir, config);
  const json::array npm = npm_replies();
  const herald::testing_support::Headers form_type = {
      {"Content-Type", "application/x-www-form-urlencoded"}};
  for (size_t i = 0; i < auth_cases().size(); ++i) {
    const AuthCase& c = auth_cases()[i];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.channel.value_or("user sign-in"));
    auto headers = form_type;
    if (c.user) headers.emplace_back("X-Herald-User", *c.user);
    const auto reply = server.post("/broadcasting/auth", c.form(), headers);
    ASSERT_EQ(reply.status, 200) << reply.body << "\n" << server.log();
    EXPECT_THAT(reply.header("Content-Type"), ::testing::StartsWith("application/json"));
    expect_same_reply(json::parse(reply.body).as_object(), npm[i].as_object());
  }
  // Denied -> 403; malformed -> 400 with the guard's JSON error.
  EXPECT_EQ(
      server.post("/broadcasting/auth", "socket_id=1.2&channel_name=private-blocked.1", form_type)
          .status,
      403);
  EXPECT_EQ(
      server.post("/broadcasting/auth", "socket_id=1.2&channel_name=presence-room.5", form_type)
          .status,
      403);  // no identity
  const auto bad =
      server.post("/broadcasting/auth", "socket_id=x&channel_name=private-a", form_type);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, R"({"error":"`socket_id` is invalid"})");
  EXPECT_THAT(server.log(), ::testing::Not(::testing::HasSubstr(kSecret)));
}

}  // namespace
