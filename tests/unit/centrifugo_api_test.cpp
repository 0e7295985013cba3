// The centrifugo driver's logic without a network (centrifugo_api.hpp): settings and their
// errors, the exact request bodies, Centrifugo's replies (errors in HTTP-200 bodies), and the
// subscribe-proxy answers through the SDK's host API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "centrifugo/centrifugo_api.hpp"

namespace {

namespace api = herald::centrifugo;
using herald::sdk::Texts;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A connection config built in memory: strings and JSON entries, as the host passes them.
struct Cfg {
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, std::string>> json;
  std::vector<herald_config_entry> entries;
  herald_config c{};
  herald::sdk::Config get() {
    entries.clear();
    for (auto& [k, v] : strings) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
    for (auto& [k, v] : json) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
    c.struct_size = sizeof c;
    c.connection = {"cf", 2};
    c.entries = entries.data();
    c.entry_count = entries.size();
    c.base_dir = {"/etc/herald", 11};
    return herald::sdk::Config(&c);
  }
};

Cfg good() {
  Cfg cfg;
  cfg.strings = {{"url", "http://127.0.0.1:8000/api/"}, {"api_key", "k3y"}};
  return cfg;
}

std::string config_error(Cfg cfg) {
  try {
    api::read_settings(cfg.get());
  } catch (const herald::sdk::ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(CentrifugoSettings, DefaultsAndTheApiKeyHeader) {
  Cfg cfg = good();
  const api::Settings s = api::read_settings(cfg.get());
  EXPECT_EQ(s.url, "http://127.0.0.1:8000/api");  // trailing '/' dropped
  EXPECT_EQ(s.api_key, "k3y");
  EXPECT_TRUE(s.skip_history);
  EXPECT_TRUE(s.idempotency_keys);
  EXPECT_FALSE(s.subscribe_proxy);
  EXPECT_EQ(s.client.timeout.count(), 5000);
  EXPECT_EQ(s.client.connect_timeout.count(), 2000);
  EXPECT_EQ(s.client.retries, 2);
  EXPECT_TRUE(s.client.retry_unanswered) << "safe: Centrifugo drops the duplicate";
  EXPECT_THAT(s.client.headers, ElementsAre("Content-Type: application/json", "X-API-Key: k3y"));
  EXPECT_THAT(s.client.redact, ElementsAre("k3y"));
}

TEST(CentrifugoSettings, TransportSettings) {
  Cfg cfg = good();
  cfg.json = {{"timeout_ms", "800"},       {"retries", "0"},          {"retry_backoff_ms", "5"},
              {"pool_size", "2"},          {"skip_history", "false"}, {"idempotency_keys", "false"},
              {"subscribe_proxy", "true"}, {"tags", R"({"a":"b"})"}};
  cfg.strings.emplace_back("ca_file", "ca.pem");
  const api::Settings s = api::read_settings(cfg.get());
  EXPECT_EQ(s.client.timeout.count(), 800);
  EXPECT_EQ(s.client.connect_timeout.count(), 800) << "never longer than the whole request";
  EXPECT_EQ(s.client.retries, 0);
  EXPECT_EQ(s.client.retry_backoff.count(), 5);
  EXPECT_EQ(s.client.pool_size, 2u);
  EXPECT_EQ(s.client.ca_file, "/etc/herald/ca.pem");
  EXPECT_FALSE(s.skip_history);
  EXPECT_FALSE(s.idempotency_keys);
  EXPECT_FALSE(s.client.retry_unanswered) << "without keys a retry could publish twice";
  EXPECT_TRUE(s.subscribe_proxy);
  EXPECT_THAT(s.tags, ElementsAre(Pair("a", "b")));
}

TEST(CentrifugoSettings, ErrorsNameTheKey) {
  auto with = [](std::vector<std::pair<std::string, std::string>> strings,
                 std::vector<std::pair<std::string, std::string>> json = {}) {
    Cfg cfg;
    cfg.strings = std::move(strings);
    cfg.json = std::move(json);
    return config_error(std::move(cfg));
  };
  const std::pair<std::string, std::string> key{"api_key", "k"}, url{"url", "http://h/api"};
  EXPECT_THAT(with({key}), HasSubstr("`url` is required"));
  EXPECT_THAT(with({{"url", ""}, key}), HasSubstr("`url` is required"));
  EXPECT_EQ(with({key}, {{"url", "5"}}), "`url` must be a string");
  EXPECT_EQ(with({{"url", "ws://h/api"}, key}), "`url` must start with http:// or https://");
  EXPECT_EQ(with({{"url", "http://h /api"}, key}),
            "`url` must not contain spaces or control characters");
  EXPECT_EQ(with({{"url", "https://:80/api"}, key}), "`url` has no host");
  EXPECT_EQ(with({{"url", "http://h:0/api"}, key}), "`url` has an invalid port");
  EXPECT_EQ(with({{"url", "http://h/api#x"}, key}), "`url` must not have a query or fragment");
  EXPECT_THAT(with({url}), HasSubstr("`api_key` is required"));
  EXPECT_THAT(with({url, {"api_key", ""}}), HasSubstr("`api_key` is required"));
  EXPECT_EQ(with({url, {"api_key", "a\nb"}}), "`api_key` must not contain control characters");
  EXPECT_EQ(with({url, key}, {{"timeout_ms", "0"}}), "`timeout_ms` is 0; expected 1..600000");
  EXPECT_EQ(with({url, key}, {{"timeout_ms", "1.5"}}), "`timeout_ms` must be an integer");
  EXPECT_EQ(with({url, key}, {{"retries", "-1"}}), "`retries` is -1; expected 0..10");
  EXPECT_EQ(with({url, key}, {{"retry_backoff_ms", "60001"}}),
            "`retry_backoff_ms` is 60001; expected 0..60000");
  EXPECT_EQ(with({url, key}, {{"pool_size", "0"}}), "`pool_size` is 0; expected 1..1024");
  EXPECT_EQ(with({url, key, {"ca_file", ""}}), "`ca_file` is empty");
  EXPECT_EQ(with({url, key}, {{"skip_history", "1"}}), "`skip_history` must be a boolean");
  EXPECT_EQ(with({url, key}, {{"tags", "[1]"}}), "`tags` must be a table of strings");
  EXPECT_EQ(with({url, key, {"tags", "x"}}), "`tags` must be a table of strings");
  EXPECT_EQ(with({url, key}, {{"tags", R"({"a":{"b":"c"}})"}}),
            "`tags` value `a` must be a string");
  // The key itself never appears in a message.
  EXPECT_THAT(with({url, {"api_key", "s3cret"}}, {{"timeout_ms", "-5"}}),
              ::testing::Not(HasSubstr("s3cret")));
}

TEST(CentrifugoJson, RecognisesExactlyOneStrictJsonValue) {
  for (std::string_view yes : {"{}", "[]", "0", "-1.5e3", "true", "null", R"("s")", " {\"a\":[1]} ",
                               "123456789012345678901234567890", R"("\u00e9")"})
    EXPECT_TRUE(api::is_json(yes)) << yes;
  for (std::string_view no : {"", " ", "hello", "{", "{}}", "1 2", "[1,]", "{'a':1}", "01", "NaN",
                              "\"\xff\"", "// c\n1", "tru"})
    EXPECT_FALSE(api::is_json(no)) << no;
  // Deep nesting is still JSON (Go's decoder accepts up to 10000 levels).
  EXPECT_TRUE(api::is_json(std::string(5000, '[') + std::string(5000, ']')));
}

api::Settings plain_settings() {
  Cfg cfg = good();
  cfg.json = {{"skip_history", "false"}};
  return api::read_settings(cfg.get());
}

std::vector<std::string_view> views(std::initializer_list<std::string_view> list) { return list; }

TEST(CentrifugoBodies, PublishBroadcastAndBatch) {
  const api::Settings s = plain_settings();
  auto t1 = views({"news"}), t2 = views({"a", "b"}), m1 = views({R"({"x":1})"}),
       m2 = views({"one", "2"});

  api::ApiCall call = api::build_call(Texts(t1), Texts(m1), s, "");
  EXPECT_EQ(call.method, api::Method::publish);
  EXPECT_EQ(api::method_path(call.method), "/publish");
  EXPECT_EQ(call.body, R"({"channel":"news","data":{"x":1}})");

  call = api::build_call(Texts(t2), Texts(m1), s, "");
  EXPECT_EQ(call.method, api::Method::broadcast);
  EXPECT_EQ(call.body, R"({"channels":["a","b"],"data":{"x":1}})");

  call = api::build_call(Texts(t1), Texts(m2), s, "");
  EXPECT_EQ(call.method, api::Method::batch);
  EXPECT_EQ(call.body, R"({"commands":[{"publish":{"channel":"news","data":"one"}},)"
                       R"({"publish":{"channel":"news","data":2}}]})");

  call = api::build_call(Texts(t2), Texts(m2), s, "");
  EXPECT_EQ(call.body, R"({"commands":[{"broadcast":{"channels":["a","b"],"data":"one"}},)"
                       R"({"broadcast":{"channels":["a","b"],"data":2}}]})");
}

TEST(CentrifugoBodies, OptionsAndIdempotencyKeys) {
  Cfg cfg = good();
  cfg.json = {{"tags", R"({"k":"v\"q"})"}};
  const api::Settings s = api::read_settings(cfg.get());
  auto t = views({"news"}), m = views({"a", "b"});
  const api::ApiCall call = api::build_call(Texts(t), Texts(m), s, "abc");
  EXPECT_EQ(call.body,
            R"({"commands":[{"publish":{"channel":"news","data":"a","skip_history":true,)"
            R"("tags":{"k":"v\"q"},"idempotency_key":"abc-0"}},)"
            R"({"publish":{"channel":"news","data":"b","skip_history":true,)"
            R"("tags":{"k":"v\"q"},"idempotency_key":"abc-1"}}]})");
  const std::string p1 = api::random_key_prefix(), p2 = api::random_key_prefix();
  EXPECT_EQ(p1.size(), 32u);
  EXPECT_NE(p1, p2);
}

TEST(CentrifugoBodies, TextIsEscapedAndInvalidTextRefused) {
  const api::Settings s = plain_settings();
  auto t = views({"caf\xc3\xa9 \"q\""}), m = views({"line\nbreak \x01"});
  EXPECT_EQ(api::build_call(Texts(t), Texts(m), s, "").body,
            "{\"channel\":\"caf\xc3\xa9 \\\"q\\\"\",\"data\":\"line\\nbreak \\u0001\"}");
  // The body is valid JSON that decodes back to the same text.
  const auto parsed = boost::json::parse(api::build_call(Texts(t), Texts(m), s, "").body);
  EXPECT_EQ(parsed.at("data").as_string(), "line\nbreak \x01");

  auto bad_message = views({"fine", "\xc3\x28"}), bad_topic = views({"ok", "\xed\xa0\x80"}),
       empty_topic = views({""});
  EXPECT_THROW(
      {
        try {
          api::build_call(Texts(t), Texts(bad_message), s, "");
        } catch (const herald::sdk::InvalidArgument& e) {
          EXPECT_STREQ(e.what(), "message 2 is neither JSON nor valid UTF-8 text");
          throw;
        }
      },
      herald::sdk::InvalidArgument);
  EXPECT_THROW(api::build_call(Texts(bad_topic), Texts(m), s, ""), herald::sdk::InvalidArgument);
  EXPECT_THROW(api::build_call(Texts(empty_topic), Texts(m), s, ""), herald::sdk::InvalidArgument);
}

// ---- replies ---------------------------------------------------------------------------------

std::string reply_error(api::Method method, std::initializer_list<std::string_view> topics,
                        std::size_t n_messages, long status, std::string_view body) {
  api::ApiCall call;
  call.method = method;
  std::vector<std::string_view> t(topics);
  try {
    api::check_reply(call, Texts(t), n_messages, status, body, "POST http://c/api/x");
  } catch (const herald::sdk::Error& e) {
    return e.what();
  }
  return "ok";
}

TEST(CentrifugoReplies, SuccessShapes) {
  using M = api::Method;
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 200, R"({"result":{}})"), "ok");
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 200, R"({"result":{"offset":3,"epoch":"x"}})"), "ok");
  EXPECT_EQ(reply_error(M::broadcast, {"a", "b"}, 1, 200,
                        R"({"result":{"responses":[{"result":{}},{"result":{}}]}})"),
            "ok");
  EXPECT_EQ(reply_error(M::batch, {"a"}, 2, 200, R"({"replies":[{"publish":{}},{"publish":{}}]})"),
            "ok");
  EXPECT_EQ(reply_error(M::batch, {"a", "b"}, 1, 200,
                        R"({"replies":[{"broadcast":{"responses":[{"result":{}},{}]}}]})"),
            "ok");
}

TEST(CentrifugoReplies, ErrorsCarryCentrifugosCodeAndMessage) {
  using M = api::Method;
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 200,
                        R"({"error":{"code":102,"message":"unknown channel"}})"),
            "Centrifugo error 102 (unknown channel) from POST http://c/api/x");
  EXPECT_EQ(reply_error(M::broadcast, {"a", "b", "c"}, 1, 200,
                        R"({"result":{"responses":[{"result":{}},)"
                        R"({"error":{"code":102,"message":"unknown channel"}},)"
                        R"({"error":{"code":100,"message":"internal server error"}}]}})"),
            "Centrifugo failed 2 of 3 channels of a broadcast; first: channel `b`: error 102 "
            "(unknown channel)");
  EXPECT_EQ(
      reply_error(M::batch, {"a"}, 3, 200,
                  R"({"replies":[{"publish":{}},{"error":{"code":107,"message":"bad request"}},)"
                  R"({"publish":{}}]})"),
      "Centrifugo failed 1 of 3 messages of a batch; first: message 2: error 107 (bad "
      "request)");
  EXPECT_EQ(
      reply_error(M::batch, {"a", "b"}, 2, 200,
                  R"({"replies":[{"broadcast":{"responses":[{},{}]}},)"
                  R"({"broadcast":{"responses":[{},{"error":{"code":102,"message":"x"}}]}}]})"),
      "Centrifugo failed 1 of 2 messages of a batch; first: message 2: channel `b`: error "
      "102 (x)");
}

TEST(CentrifugoReplies, HttpStatusesAndUnreadableReplies) {
  using M = api::Method;
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 401, ""),
            "Centrifugo refused the API key (HTTP 401 from POST http://c/api/x): check `api_key`");
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 400, "Bad Request\n"),
            "Centrifugo answered HTTP 400 to POST http://c/api/x: Bad Request");
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 404, ""),
            "Centrifugo answered HTTP 404 to POST http://c/api/x");
  EXPECT_EQ(reply_error(M::publish, {"a"}, 1, 200, "<html>"),
            "Centrifugo sent an unreadable reply to POST http://c/api/x: <html>");
  EXPECT_EQ(reply_error(M::batch, {"a"}, 2, 200, R"({"replies":[{"publish":{}}]})"),
            "Centrifugo sent 1 replies for 2 batch commands from POST http://c/api/x");
}

// ---- subscribe proxy -------------------------------------------------------------------------

// A host whose topic rules allow `chat:<room>` when the X-Room header equals <room>.
struct FakeHost {
  herald_host_api api{};
  bool fail = false;
  FakeHost() {
    api.struct_size = sizeof api;
    api.ctx = this;
    api.log = [](void*, int, herald_str) {};
    api.log_enabled = [](void*, int) { return 1; };
    api.authorize_topic = [](void* ctx, const herald_request* request, herald_str topic,
                             herald_param_fn on_param, void* user, herald_error* err) -> int {
      if (static_cast<FakeHost*>(ctx)->fail) {
        herald_error_set(err, "webhook unreachable");
        return HERALD_E_FAILED;
      }
      const std::string_view t = herald::sdk::view(topic);
      if (t.rfind("chat:", 0) != 0) return HERALD_TOPIC_NO_MATCH;
      const std::string_view room = t.substr(5);
      on_param(user, herald::sdk::str("room"), herald::sdk::str(room));
      const auto header = herald::sdk::Request(request).header("X-Room");
      return header && *header == room ? HERALD_TOPIC_ALLOW : HERALD_TOPIC_DENY;
    };
  }
};

struct Recorded {
  int success = -1;
  std::vector<std::string> topics;
  std::string attributes;
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  herald_auth_result result{};
  Recorded() {
    result.struct_size = sizeof result;
    result.ctx = this;
    result.set_success = [](void* c, int ok) { static_cast<Recorded*>(c)->success = ok; };
    result.add_topic = [](void* c, herald_str t) {
      static_cast<Recorded*>(c)->topics.emplace_back(herald::sdk::view(t));
    };
    result.set_attributes = [](void* c, herald_str a) {
      static_cast<Recorded*>(c)->attributes = std::string(herald::sdk::view(a));
    };
    result.set_response = [](void* c, int code, herald_str text) {
      static_cast<Recorded*>(c)->status = code;
      static_cast<Recorded*>(c)->body = std::string(herald::sdk::view(text));
    };
    result.add_response_header = [](void* c, herald_str n, herald_str v) {
      static_cast<Recorded*>(c)->headers.emplace_back(herald::sdk::view(n), herald::sdk::view(v));
    };
  }
};

Recorded proxy(FakeHost& host, std::string_view body, std::string_view room) {
  const herald_header headers[] = {{herald::sdk::str("X-Room"), herald::sdk::str(room)}};
  herald_request request{};
  request.struct_size = sizeof request;
  request.method = herald::sdk::str("POST");
  request.path = herald::sdk::str("/centrifugo/subscribe");
  request.headers = headers;
  request.header_count = 1;
  request.body = herald::sdk::str(body);
  Recorded out;
  api::answer_subscribe_proxy(herald::sdk::Host(&host.api), herald::sdk::Request(&request),
                              herald::sdk::AuthResult(&out.result));
  return out;
}

TEST(CentrifugoSubscribeProxy, AllowsDeniesAndRefusesMalformedRequests) {
  FakeHost host;
  const std::string request = R"({"client":"c1","transport":"websocket","protocol":"json",)"
                              R"("encoding":"json","user":"56","channel":"chat:lobby"})";
  Recorded r = proxy(host, request, "lobby");
  EXPECT_EQ(r.success, 1);
  EXPECT_THAT(r.topics, ElementsAre("chat:lobby"));
  EXPECT_EQ(boost::json::parse(r.attributes),
            boost::json::parse(R"({"room":"lobby","user":"56"})"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":{}})");
  EXPECT_THAT(r.headers, ElementsAre(Pair("Content-Type", "application/json")));

  r = proxy(host, request, "other");
  EXPECT_EQ(r.success, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"error":{"code":403,"message":"permission denied"}})");

  r = proxy(host, R"({"user":"56","channel":"news"})", "news");  // no pattern matches: deny
  EXPECT_EQ(r.success, 0);
  EXPECT_EQ(r.body, R"({"error":{"code":403,"message":"permission denied"}})");

  for (std::string_view bad :
       {"", "channel_name=x", "[]", R"({"channel":""})", R"({"channel":1})"}) {
    r = proxy(host, bad, "x");
    EXPECT_EQ(r.success, 0) << bad;
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_THAT(r.body, HasSubstr("subscribe proxy request")) << bad;
  }

  host.fail = true;  // rules that cannot be evaluated: a temporary denial
  r = proxy(host, request, "lobby");
  EXPECT_EQ(r.success, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"error":{"code":403,"message":"permission denied","temporary":true}})");
}

}  // namespace
