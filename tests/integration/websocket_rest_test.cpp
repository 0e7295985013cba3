// The `websocket` driver's Pusher HTTP API (plugins/websocket/README.md, "Pusher HTTP API") on
// its `listen` port, through the real `herald serve`: requests signed with the project's own
// signing helper (`signed_query`) and hand-made bad signatures; delivery checked on raw
// Pusher protocol 7 clients (tests/support/ws_test_client.hpp).
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald_server.hpp"
#include "ws_test_client.hpp"

// The signing helper moved from plugins/pusher/ to plugins/common/pusher/; use whichever exists.
#if __has_include("../../plugins/common/pusher/pusher_signing.hpp")
#include "../../plugins/common/pusher/pusher_signing.hpp"
#else
#include "../../plugins/pusher/pusher_signing.hpp"
#endif

namespace {

namespace json = boost::json;
using herald::pusher::Credentials;
using herald::pusher::hmac_sha256_hex;
using herald::pusher::md5_hex;
using herald::pusher::signed_query;
using herald::testing_support::free_tcp_port;
using herald::testing_support::HeraldServer;
using herald::testing_support::HttpReply;
using herald::testing_support::http_request;
using herald::testing_support::pusher_connect;
using herald::testing_support::PusherConnection;
using herald::testing_support::TempDir;
using herald::testing_support::WsClient;
using ::testing::HasSubstr;
using ::testing::Not;
using Millis = std::chrono::milliseconds;
using Params = std::vector<std::pair<std::string, std::string>>;

const std::string kApiKey = "test-key";
const Credentials kCreds{"app1", "app-key", "app-secret"};

std::int64_t Now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string ChannelAuth(const std::string& socket_id, const std::string& channel,
                        const std::string& channel_data = "") {
  return herald::pusher::channel_auth(kCreds, socket_id, channel, channel_data);
}

std::string ErrorOf(const HttpReply& r) {
  boost::system::error_code ec;
  const auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error") || !v.at("error").is_string())
    return "<no {\"error\":string} in: " + r.body + ">";
  return std::string(v.at("error").as_string());
}

json::value Body(const HttpReply& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec) return json::string("<not JSON: " + r.body + ">");
  return v;
}

class WebsocketRest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string toml =
        "default = \"websocket\"\n[server]\napi_key = \"" + kApiKey +
        "\"\n[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
        std::to_string(ws_port_) + "\"\napp_id = \"" + kCreds.app_id + "\"\nkey = \"" + kCreds.key +
        "\"\nsecret = \"" + kCreds.secret + "\"\nmax_message_bytes = 10240\n";
    server_ = std::make_unique<HeraldServer>(dir_, toml);
    server_->process().wait_for_port(ws_port_, std::chrono::seconds(20));
  }

  // A request to the websocket port with a query string as given (already signed or not).
  HttpReply Raw(const std::string& method, const std::string& target, const std::string& body = {}) {
    return http_request(ws_port_, method, target, body, {}, std::chrono::seconds(10));
  }

  // A correctly signed request.
  HttpReply Signed(const std::string& method, const std::string& path, const std::string& body = {},
                   Params params = {}) {
    return Raw(method, path + "?" + signed_query(kCreds, method, path, body, Now(), std::move(params)), body);
  }

  HttpReply Events(const json::value& body) {
    return Signed("POST", "/apps/app1/events", json::serialize(body));
  }

  PusherConnection Subscribed(const std::string& channel) {
    PusherConnection c = pusher_connect(ws_port_);
    EXPECT_FALSE(c.socket_id.empty());
    auto reply = c.subscribe(channel);
    EXPECT_TRUE(reply && WsClient::event_name(*reply) == "pusher_internal:subscription_succeeded")
        << (reply ? json::serialize(*reply) : "<nothing>");
    return c;
  }

  PusherConnection PresenceMember(const std::string& channel, const std::string& user_id) {
    PusherConnection c = pusher_connect(ws_port_);
    EXPECT_FALSE(c.socket_id.empty());
    const std::string data = R"({"user_id":")" + user_id + R"(","user_info":{}})";
    auto reply = c.subscribe(channel, ChannelAuth(c.socket_id, channel, data), data);
    EXPECT_TRUE(reply && WsClient::event_name(*reply) == "pusher_internal:subscription_succeeded")
        << (reply ? json::serialize(*reply) : "<nothing>");
    return c;
  }

  void ExpectHealthy(const std::string& context) {
    ASSERT_TRUE(server_->process().running()) << context << "\n" << server_->log();
    EXPECT_EQ(server_->get("/healthz").status, 200) << context;
    EXPECT_EQ(Signed("GET", "/apps/app1/channels").status, 200) << context;
  }

  TempDir dir_{"herald-ws-rest"};
  std::uint16_t ws_port_ = free_tcp_port();
  std::unique_ptr<HeraldServer> server_;
};

const std::string kEventBody = R"({"name":"my-event","channels":["orders"],"data":"{\"a\":1}"})";

// ---------------------------------------------------------------------------------------------
// Signatures

TEST_F(WebsocketRest, SignedEventsIsAcceptedAndDelivered) {
  PusherConnection c = Subscribed("orders");
  const HttpReply r = Signed("POST", "/apps/app1/events", kEventBody);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse("{}"));
  auto e = c->wait_event("my-event", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "orders");
  EXPECT_EQ(WsClient::data_string(*e), R"({"a":1})") << "data must be relayed as the same string";
}

TEST_F(WebsocketRest, TheOfficialSigningVectorShapeWorksHere) {
  // Hand-signed exactly as protocols.md section 2 describes, without the helper.
  const std::string path = "/apps/app1/events";
  const std::string ts = std::to_string(Now());
  const std::string md5 = md5_hex(kEventBody);
  const std::string query = "auth_key=app-key&auth_timestamp=" + ts + "&auth_version=1.0&body_md5=" + md5;
  const std::string sig = hmac_sha256_hex("app-secret", "POST\n" + path + "\n" + query);
  EXPECT_EQ(Raw("POST", path + "?" + query + "&auth_signature=" + sig, kEventBody).status, 200);
  // The parameters in another order in the URL still verify (the server sorts).
  EXPECT_EQ(Raw("POST", path + "?auth_signature=" + sig + "&body_md5=" + md5 + "&auth_version=1.0&auth_timestamp=" +
                    ts + "&auth_key=app-key", kEventBody).status, 200);
}

TEST_F(WebsocketRest, BadSignaturesAre401) {
  PusherConnection c = Subscribed("orders");
  const std::string path = "/apps/app1/events";
  const std::string good = signed_query(kCreds, "POST", path, kEventBody, Now());
  const std::string sig = good.substr(good.find("auth_signature=") + 15);
  const std::string unsigned_part = good.substr(0, good.find("&auth_signature="));

  struct Case {
    std::string what, query;
  };
  std::string flipped = sig;
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  const std::vector<Case> cases = {
      {"wrong signature", unsigned_part + "&auth_signature=" + flipped},
      {"no auth_signature", unsigned_part},
      {"empty auth_signature", unsigned_part + "&auth_signature="},
      {"no query at all", ""},
      {"signed with another secret",
       signed_query(Credentials{"app1", "app-key", "other-secret"}, "POST", path, kEventBody, Now())},
      {"another key", signed_query(Credentials{"app1", "other-key", "app-secret"}, "POST", path, kEventBody, Now())},
      {"stale timestamp", signed_query(kCreds, "POST", path, kEventBody, Now() - 700)},
      {"future timestamp", signed_query(kCreds, "POST", path, kEventBody, Now() + 700)},
      {"body_md5 of another body",
       signed_query(kCreds, "POST", path, R"({"name":"x","channels":["orders"],"data":"y"})", Now())},
      {"signed for another method", signed_query(kCreds, "PUT", path, kEventBody, Now())},
      {"signed for another path", signed_query(kCreds, "POST", "/apps/app1/batch_events", kEventBody, Now())},
  };
  for (const auto& bad : cases) {
    const HttpReply r = Raw("POST", path + (bad.query.empty() ? "" : "?" + bad.query), kEventBody);
    EXPECT_EQ(r.status, 401) << bad.what << ": " << r.body;
    EXPECT_THAT(ErrorOf(r), Not(HasSubstr("<no"))) << bad.what;
    EXPECT_THAT(r.body, Not(HasSubstr("app-secret"))) << bad.what;
  }
  // A body with no body_md5 at all in the signature (signed as if empty).
  {
    const std::string q = signed_query(kCreds, "POST", path, "", Now());
    EXPECT_EQ(Raw("POST", path + "?" + q, kEventBody).status, 401) << "body not covered by body_md5";
  }
  // Missing auth_key / auth_timestamp / auth_version, each signed over what remains.
  for (const std::string drop : {"auth_key", "auth_timestamp", "auth_version"}) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"auth_key", "app-key"}, {"auth_timestamp", std::to_string(Now())}, {"auth_version", "1.0"},
        {"body_md5", md5_hex(kEventBody)}};
    std::string query;
    for (const auto& [k, v] : params) {
      if (k == drop) continue;
      query += (query.empty() ? "" : "&") + k + "=" + v;
    }
    const std::string s = hmac_sha256_hex("app-secret", "POST\n" + path + "\n" + query);
    EXPECT_EQ(Raw("POST", path + "?" + query + "&auth_signature=" + s, kEventBody).status, 401)
        << "without " << drop;
  }
  // None of these delivered anything.
  const HttpReply marker = Signed("POST", path, R"({"name":"marker","channel":"orders","data":"m"})");
  ASSERT_EQ(marker.status, 200) << marker.body;
  auto e = c->next_event(Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::event_name(*e), "marker") << json::serialize(*e);
  ExpectHealthy("after bad signatures");
}

TEST_F(WebsocketRest, GetRequestsAreSignedToo) {
  EXPECT_EQ(Raw("GET", "/apps/app1/channels").status, 401);
  const std::string q = signed_query(kCreds, "GET", "/apps/app1/channels", "", Now(), {{"filter_by_prefix", "a"}});
  // The signature covers the query parameters: changing one breaks it.
  std::string tampered = q;
  tampered.replace(tampered.find("filter_by_prefix=a"), 18, "filter_by_prefix=b");
  EXPECT_EQ(Raw("GET", "/apps/app1/channels?" + tampered).status, 401);
  EXPECT_EQ(Raw("GET", "/apps/app1/channels?" + q).status, 200);
}

TEST_F(WebsocketRest, AnotherAppIdIs404) {
  const HttpReply r = Signed("POST", "/apps/other-app/events", kEventBody);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Signed("GET", "/apps/other-app/channels").status, 404);
  EXPECT_EQ(Signed("GET", "/apps/app1/nope").status, 404);
  EXPECT_EQ(Signed("GET", "/nope").status, 404);
}

TEST_F(WebsocketRest, WrongMethodIs405) {
  const HttpReply r = Signed("GET", "/apps/app1/events");
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(Signed("POST", "/apps/app1/channels", "{}").status, 405);
}

// ---------------------------------------------------------------------------------------------
// Limits and validation

TEST_F(WebsocketRest, EventDataOverMaxMessageBytesIs413) {
  json::object body{{"name", "big"}, {"channel", "orders"}, {"data", std::string(10241, 'x')}};
  HttpReply r = Events(body);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(ErrorOf(r), Not(HasSubstr("<no")));
  body["data"] = std::string(20000, 'x');
  EXPECT_EQ(Events(body).status, 413);
  // 10 000 bytes of data is fine.
  body["data"] = std::string(10000, 'x');
  EXPECT_EQ(Events(body).status, 200);
  // In a batch too.
  json::object batch{{"batch", json::array{json::object{{"name", "big"}, {"channel", "a"}, {"data", std::string(10241, 'x')}}}}};
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", json::serialize(batch)).status, 413);
  ExpectHealthy("after 413s");
}

TEST_F(WebsocketRest, BadRequestsAre400) {
  auto channels = [](int n) {
    json::array a;
    for (int i = 0; i < n; ++i) a.emplace_back("c" + std::to_string(i));
    return a;
  };
  struct Case {
    std::string what, body;
  };
  const std::vector<Case> cases = {
      {"bad JSON", "{\"name\":"},
      {"not an object", "[1,2]"},
      {"101 channels", json::serialize(json::object{{"name", "e"}, {"data", "d"}, {"channels", channels(101)}})},
      {"no channels", R"({"name":"e","data":"d"})"},
      {"empty channels", R"({"name":"e","data":"d","channels":[]})"},
      {"no name", R"({"data":"d","channel":"a"})"},
      {"empty name", R"({"name":"","data":"d","channel":"a"})"},
      {"name over 200", json::serialize(json::object{{"name", std::string(201, 'n')}, {"data", "d"}, {"channel", "a"}})},
      {"bad channel name", R"({"name":"e","data":"d","channels":["bad channel!"]})"},
      {"channel over 200", json::serialize(json::object{{"name", "e"}, {"data", "d"}, {"channel", std::string(201, 'c')}})},
      {"bad socket_id", R"({"name":"e","data":"d","channel":"a","socket_id":"abc"})"},
      {"channels not an array", R"({"name":"e","data":"d","channels":"a"})"},
  };
  for (const auto& c : cases) {
    const HttpReply r = Signed("POST", "/apps/app1/events", c.body);
    EXPECT_EQ(r.status, 400) << c.what << ": " << r.body;
    EXPECT_THAT(ErrorOf(r), Not(HasSubstr("<no"))) << c.what;
  }
  // 100 channels is the limit, not over it.
  EXPECT_EQ(Signed("POST", "/apps/app1/events",
                   json::serialize(json::object{{"name", "e"}, {"data", "d"}, {"channels", channels(100)}}))
                .status,
            200);
  // Batches: more than 10 events, bad JSON, a bad event inside.
  json::array eleven;
  for (int i = 0; i < 11; ++i) eleven.emplace_back(json::object{{"name", "e"}, {"channel", "a"}, {"data", "d"}});
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", json::serialize(json::object{{"batch", eleven}})).status, 400);
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", "{\"batch\":").status, 400);
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", R"({"batch":[{"name":"e","channel":"bad channel","data":"d"}]})").status, 400);
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", R"({"batch":"x"})").status, 400);
  eleven.pop_back();
  EXPECT_EQ(Signed("POST", "/apps/app1/batch_events", json::serialize(json::object{{"batch", eleven}})).status, 200);
  ExpectHealthy("after 400s");
}

// ---------------------------------------------------------------------------------------------
// Publishing

TEST_F(WebsocketRest, EventsToSeveralChannelsAndTheSingleChannelForm) {
  PusherConnection a = Subscribed("a");
  PusherConnection b = Subscribed("b");
  ASSERT_EQ(Events(json::parse(R"({"name":"multi","channels":["a","b","nobody"],"data":"x"})")).status, 200);
  ASSERT_EQ(Events(json::parse(R"({"name":"single","channel":"b","data":"y"})")).status, 200);
  auto e = a->wait_event("multi", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "a");
  e = b->wait_event("multi", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "b");
  e = b->wait_event("single", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "y");
}

TEST_F(WebsocketRest, SocketIdIsExcludedFromDelivery) {
  PusherConnection sender = Subscribed("room");
  PusherConnection other = Subscribed("room");
  json::object body{{"name", "said"}, {"channel", "room"}, {"data", "hi"}, {"socket_id", sender.socket_id}};
  ASSERT_EQ(Events(body).status, 200);
  auto e = other->wait_event("said", Millis(3000));
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(Events(json::parse(R"({"name":"marker","channel":"room","data":"m"})")).status, 200);
  e = sender->next_event(Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::event_name(*e), "marker") << "the excluded socket got: " << json::serialize(*e);
  // In a batch too.
  json::object batch{{"batch", json::array{json::object{{"name", "b1"}, {"channel", "room"}, {"data", "1"}, {"socket_id", sender.socket_id}},
                                           json::object{{"name", "b2"}, {"channel", "room"}, {"data", "2"}}}}};
  ASSERT_EQ(Signed("POST", "/apps/app1/batch_events", json::serialize(batch)).status, 200);
  e = sender->next_event(Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::event_name(*e), "b2") << json::serialize(*e);
  EXPECT_TRUE(other->wait_event("b1", Millis(3000)).has_value());
}

TEST_F(WebsocketRest, BatchEventsDeliversEachEvent) {
  PusherConnection a = Subscribed("a");
  PusherConnection b = Subscribed("b");
  const std::string batch = R"({"batch":[{"name":"e1","channel":"a","data":"1"},{"name":"e2","channel":"b","data":"2"},{"name":"e3","channel":"a","data":"3"}]})";
  const HttpReply r = Signed("POST", "/apps/app1/batch_events", batch);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse("{}"));
  auto e = a->wait_event("e1", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "1");
  e = a->next_event(Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::event_name(*e), "e3");
  e = b->wait_event("e2", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "2");
}

TEST_F(WebsocketRest, EventsWithInfoReplyWithChannelInfo) {
  PusherConnection a1 = Subscribed("orders");
  PusherConnection a2 = Subscribed("orders");
  const HttpReply r = Events(json::parse(R"({"name":"e","channels":["orders","empty"],"data":"d","info":"subscription_count"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = Body(r);
  ASSERT_TRUE(v.is_object() && v.as_object().contains("channels")) << r.body;
  EXPECT_EQ(v.at("channels").at("orders").at("subscription_count"), json::value(2)) << r.body;
  const HttpReply b = Signed("POST", "/apps/app1/batch_events",
                             R"({"batch":[{"name":"e","channel":"orders","data":"d","info":"subscription_count"}]})");
  ASSERT_EQ(b.status, 200) << b.body;
  const json::value bv = Body(b);
  ASSERT_TRUE(bv.is_object() && bv.as_object().contains("batch")) << b.body;
  ASSERT_TRUE(bv.at("batch").is_array() && bv.at("batch").as_array().size() == 1) << b.body;
  EXPECT_EQ(bv.at("batch").at(0).at("subscription_count"), json::value(2)) << b.body;
}

// ---------------------------------------------------------------------------------------------
// Channel queries

TEST_F(WebsocketRest, ChannelsListsOccupiedChannelsWithFiltersAndInfo) {
  PusherConnection o1 = Subscribed("orders");
  PusherConnection o2 = Subscribed("orders");
  PusherConnection o3 = Subscribed("orders-2");
  PusherConnection x = Subscribed("other");
  PusherConnection p1 = PresenceMember("presence-room", "1");
  PusherConnection p2 = PresenceMember("presence-room", "2");
  PusherConnection p2b = PresenceMember("presence-room", "2");
  {
    // Unsubscribed channels are not occupied.
    PusherConnection gone = Subscribed("left");
    gone->send_event("pusher:unsubscribe", json::object{{"channel", "left"}});
    gone->send_event("pusher:ping", json::object());
    ASSERT_TRUE(gone->wait_event("pusher:pong", Millis(3000)).has_value());
  }

  HttpReply r = Signed("GET", "/apps/app1/channels");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  ASSERT_TRUE(v.is_object() && v.as_object().contains("channels") && v.at("channels").is_object()) << r.body;
  std::set<std::string> names;
  for (const auto& kv : v.at("channels").as_object()) names.insert(std::string(kv.key()));
  EXPECT_EQ(names, (std::set<std::string>{"orders", "orders-2", "other", "presence-room"})) << r.body;

  r = Signed("GET", "/apps/app1/channels", "", {{"filter_by_prefix", "orders"}, {"info", "subscription_count"}});
  ASSERT_EQ(r.status, 200) << r.body;
  v = Body(r);
  EXPECT_EQ(v, json::parse(R"({"channels":{"orders":{"subscription_count":2},"orders-2":{"subscription_count":1}}})"))
      << r.body;

  r = Signed("GET", "/apps/app1/channels", "", {{"filter_by_prefix", "presence-"}, {"info", "user_count"}});
  ASSERT_EQ(r.status, 200) << r.body;
  v = Body(r);
  EXPECT_EQ(v, json::parse(R"({"channels":{"presence-room":{"user_count":2}}})")) << r.body;
}

TEST_F(WebsocketRest, OneChannel) {
  PusherConnection o1 = Subscribed("orders");
  PusherConnection o2 = Subscribed("orders");
  PusherConnection p1 = PresenceMember("presence-room", "1");
  PusherConnection p1b = PresenceMember("presence-room", "1");
  PusherConnection p2 = PresenceMember("presence-room", "2");

  HttpReply r = Signed("GET", "/apps/app1/channels/orders", "", {{"info", "subscription_count"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"occupied":true,"subscription_count":2})")) << r.body;

  r = Signed("GET", "/apps/app1/channels/orders");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("occupied"), json::value(true)) << r.body;

  r = Signed("GET", "/apps/app1/channels/nobody-here", "", {{"info", "subscription_count"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("occupied"), json::value(false)) << r.body;

  r = Signed("GET", "/apps/app1/channels/presence-room", "", {{"info", "user_count,subscription_count"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"occupied":true,"user_count":2,"subscription_count":3})")) << r.body;

  EXPECT_EQ(Signed("GET", "/apps/app1/channels/bad!").status, 400);
}

TEST_F(WebsocketRest, PresenceUsers) {
  PusherConnection p1 = PresenceMember("presence-room", "1");
  PusherConnection p2 = PresenceMember("presence-room", "2");
  PusherConnection p2b = PresenceMember("presence-room", "2");
  HttpReply r = Signed("GET", "/apps/app1/channels/presence-room/users");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = Body(r);
  ASSERT_TRUE(v.is_object() && v.as_object().contains("users") && v.at("users").is_array()) << r.body;
  std::multiset<std::string> ids;
  for (const auto& u : v.at("users").as_array()) ids.insert(std::string(u.at("id").as_string()));
  EXPECT_EQ(ids, (std::multiset<std::string>{"1", "2"})) << r.body;

  // Users leave.
  p2b->close_socket();
  p2->close_socket();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    r = Signed("GET", "/apps/app1/channels/presence-room/users");
    if (Body(r) == json::parse(R"({"users":[{"id":"1"}]})") || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_EQ(Body(r), json::parse(R"({"users":[{"id":"1"}]})")) << r.body;

  // Not a presence channel.
  PusherConnection o = Subscribed("orders");
  EXPECT_EQ(Signed("GET", "/apps/app1/channels/orders/users").status, 400);
}

TEST_F(WebsocketRest, KeepAliveSignedRequestsOnOneConnection) {
  // Keep-alive: several signed requests on one connection, as server SDKs send them.
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), ws_port_));
  PusherConnection c = Subscribed("ka");
  for (int i = 0; i < 3; ++i) {
    const std::string body = R"({"name":"k","channel":"ka","data":")" + std::to_string(i) + "\"}";
    namespace http = boost::beast::http;
    http::request<http::string_body> req(http::verb::post,
                                         "/apps/app1/events?" + signed_query(kCreds, "POST", "/apps/app1/events", body, Now()),
                                         11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u) << res.body();
  }
  for (const std::string n : {"0", "1", "2"}) {
    auto e = c->wait_event("k", Millis(3000));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(WsClient::data_string(*e), n);
  }
}

}  // namespace
