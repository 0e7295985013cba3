// The `websocket` driver (plugins/websocket/README.md) as a Pusher protocol 7 client meets it:
// the real `herald serve` runs with a websocket connection on a free loopback port, and raw
// WebSocket clients (tests/support/ws_test_client.hpp) connect, subscribe, authenticate, send
// client events and abuse the server. Events are published through `POST /api/publish`. After
// every abuse case the server must still serve a fresh client and `GET /healthz`.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald_server.hpp"
#include "ws_test_client.hpp"

namespace {

namespace json = boost::json;
namespace ws = herald::testing_support::ws;
using herald::testing_support::free_tcp_port;
using herald::testing_support::HeraldServer;
using herald::testing_support::HttpReply;
using herald::testing_support::process_rss_kb;
using herald::testing_support::pusher_connect;
using herald::testing_support::PusherConnection;
using herald::testing_support::TempDir;
using herald::testing_support::WsClient;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Millis = std::chrono::milliseconds;

const std::string kApiKey = "test-key";
const herald::testing_support::Headers kAuth = {{"Authorization", "Bearer " + kApiKey}};
const std::string kAppKey = "app-key";
const std::string kSecret = "app-secret";

// Lowercase hex HMAC-SHA256, computed here with OpenSSL independently of the server's code.
std::string HmacHex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 15];
  }
  return hex;
}

std::string ChannelAuth(const std::string& socket_id, const std::string& channel,
                        const std::string& channel_data = "") {
  std::string to_sign = socket_id + ":" + channel;
  if (!channel_data.empty()) to_sign += ":" + channel_data;
  return kAppKey + ":" + HmacHex(kSecret, to_sign);
}

std::string UserAuth(const std::string& socket_id, const std::string& user_data) {
  return kAppKey + ":" + HmacHex(kSecret, socket_id + "::user::" + user_data);
}

std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
}

// "type/status" of a pusher:subscription_error's data, e.g. "AuthError/401".
std::string SubscriptionError(const std::optional<json::object>& e) {
  if (!e) return "<nothing>";
  if (WsClient::event_name(*e) != "pusher:subscription_error")
    return "<" + json::serialize(*e) + ">";
  const json::value data = WsClient::data_of(*e);
  if (!data.is_object()) return "<data not an object: " + json::serialize(*e) + ">";
  const auto& o = data.as_object();
  const auto* type = o.if_contains("type");
  const auto* status = o.if_contains("status");
  return (type ? Str(*type) : "?") + "/" + (status ? Str(*status) : "?");
}

bool Succeeded(const std::optional<json::object>& e) {
  return e && WsClient::event_name(*e) == "pusher_internal:subscription_succeeded";
}

// The code of a pusher:error event, -1 when it is not one.
std::int64_t ErrorCode(const std::optional<json::object>& e) {
  if (!e || WsClient::event_name(*e) != "pusher:error") return -1;
  const json::value data = WsClient::data_of(*e);
  if (!data.is_object()) return -2;
  const auto* code = data.as_object().if_contains("code");
  if (code == nullptr) return -3;
  if (code->is_int64()) return code->get_int64();
  if (code->is_uint64()) return static_cast<std::int64_t>(code->get_uint64());
  return -4;
}

std::string Describe(const std::optional<json::object>& e) {
  return e ? json::serialize(*e) : std::string("<nothing>");
}

class WebsocketProtocol : public ::testing::Test {
 protected:
  std::string Config(const std::string& extra = "") const {
    return "default = \"websocket\"\n[server]\napi_key = \"" + kApiKey +
           "\"\n[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
           std::to_string(ws_port_) + "\"\napp_id = \"app1\"\nkey = \"" + kAppKey +
           "\"\nsecret = \"" + kSecret + "\"\n" + extra;
  }

  void Start(const std::string& extra = "") {
    server_ = std::make_unique<HeraldServer>(dir_, Config(extra));
    server_->process().wait_for_port(ws_port_, std::chrono::seconds(20));
  }

  PusherConnection Connect(const std::string& key = kAppKey) {
    PusherConnection c = pusher_connect(ws_port_, key);
    EXPECT_TRUE(c->upgraded()) << c->response_head() << c->response_body();
    EXPECT_FALSE(c.socket_id.empty()) << "no connection_established";
    return c;
  }

  PusherConnection Subscribed(const std::string& channel) {
    PusherConnection c = Connect();
    auto reply = c.subscribe(channel);
    EXPECT_TRUE(Succeeded(reply)) << channel << ": " << Describe(reply);
    return c;
  }

  HttpReply Publish(const std::string& topic, const json::value& message) {
    json::object body;
    body["topic"] = topic;
    body["message"] = message;
    HttpReply r = server_->post("/api/publish", json::serialize(body), kAuth);
    EXPECT_EQ(r.status, 200) << r.body;
    return r;
  }
  HttpReply PublishMany(const std::string& topic, const json::array& messages) {
    json::object body;
    body["topic"] = topic;
    body["messages"] = messages;
    HttpReply r = server_->post("/api/publish", json::serialize(body), kAuth);
    EXPECT_EQ(r.status, 200) << r.body;
    return r;
  }

  // A socket still works: pusher:ping gets pusher:pong.
  static void ExpectAlive(PusherConnection& c, const std::string& context) {
    ASSERT_TRUE(c->send_event("pusher:ping", json::object())) << context;
    auto pong = c->wait_event("pusher:pong", Millis(3000));
    EXPECT_TRUE(pong.has_value()) << context << ": no pusher:pong; close="
                                  << (c->close_frame() ? c->close_frame()->close_code() : 0)
                                  << " eof=" << c->eof();
  }

  // The server still serves a fresh client (connect, subscribe, receive a publish) and /healthz.
  void ExpectServerHealthy(const std::string& context) {
    ASSERT_TRUE(server_->process().running()) << context << ": herald exited\n" << server_->log();
    PusherConnection fresh = pusher_connect(ws_port_, kAppKey);
    ASSERT_TRUE(fresh->upgraded()) << context;
    ASSERT_FALSE(fresh.socket_id.empty()) << context << ": no connection_established";
    auto reply = fresh.subscribe("health-check");
    ASSERT_TRUE(Succeeded(reply)) << context << ": " << Describe(reply);
    Publish("health-check", "still-alive");
    auto event = fresh->wait_event("message", Millis(3000), "health-check");
    ASSERT_TRUE(event.has_value()) << context << ": publish not delivered to a fresh client";
    EXPECT_EQ(WsClient::data_string(*event), "still-alive");
    const HttpReply health = server_->get("/healthz");
    EXPECT_EQ(health.status, 200) << context << ": " << health.body;
  }

  TempDir dir_{"herald-ws"};
  std::uint16_t ws_port_ = free_tcp_port();
  std::unique_ptr<HeraldServer> server_;
};

using WebsocketAbuse = WebsocketProtocol;

// ---------------------------------------------------------------------------------------------
// Connecting

TEST_F(WebsocketProtocol, ConnectionEstablishedHasUniqueSocketIdsAndTheActivityTimeout) {
  Start();
  std::set<std::string> ids;
  const std::regex socket_id_form(R"(^\d+\.\d+$)");
  for (int i = 0; i < 5; ++i) {
    std::optional<json::object> first;
    PusherConnection c = pusher_connect(ws_port_, kAppKey, &first);
    ASSERT_TRUE(c->upgraded()) << c->response_head();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(WsClient::event_name(*first), "pusher:connection_established") << Describe(first);
    // Server-to-client data is a JSON string (double encoding).
    ASSERT_TRUE(first->at("data").is_string()) << Describe(first);
    ASSERT_TRUE(c.established_data.is_object()) << Describe(first);
    const auto& data = c.established_data.as_object();
    EXPECT_TRUE(std::regex_match(c.socket_id, socket_id_form)) << c.socket_id;
    ASSERT_TRUE(data.contains("activity_timeout")) << Describe(first);
    EXPECT_TRUE(data.at("activity_timeout").is_number());
    EXPECT_EQ(data.at("activity_timeout"), json::value(30));
    ids.insert(c.socket_id);
  }
  EXPECT_EQ(ids.size(), 5u) << "socket ids are not unique";
}

TEST_F(WebsocketProtocol, ActivityTimeoutIsTheConfiguredValue) {
  Start("activity_timeout_s = 7\n");
  PusherConnection c = Connect();
  ASSERT_TRUE(c.established_data.is_object());
  EXPECT_EQ(c.established_data.as_object().at("activity_timeout"), json::value(7));
}

TEST_F(WebsocketProtocol, UnknownKeyGetsError4001AndClose4001) {
  Start();
  std::optional<json::object> first;
  PusherConnection c = pusher_connect(ws_port_, "wrong-key", &first);
  ASSERT_TRUE(c->upgraded()) << c->response_head();
  EXPECT_EQ(ErrorCode(first), 4001) << Describe(first);
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_EQ(close->close_code(), 4001);
  ExpectServerHealthy("after an unknown key");
}

TEST_F(WebsocketProtocol, QueryStringIsIgnored) {
  Start();
  for (const std::string target :
       {"/app/app-key", "/app/app-key?protocol=7&client=js&version=8.4.0&flash=false",
        "/app/app-key?anything=else&protocol=5"}) {
    auto client = WsClient::open(ws_port_, target);
    ASSERT_TRUE(client->upgraded()) << target << "\n" << client->response_head();
    auto first = client->next_event(Millis(3000));
    EXPECT_EQ(first ? WsClient::event_name(*first) : "", "pusher:connection_established")
        << target << ": " << Describe(first);
  }
}

TEST_F(WebsocketProtocol, OtherPathsAreNotUpgraded) {
  Start();
  auto client = WsClient::open(ws_port_, "/nope/app-key");
  EXPECT_FALSE(client->upgraded()) << client->response_head();
  ExpectServerHealthy("after a wrong path");
}

// ---------------------------------------------------------------------------------------------
// Public channels and delivery

TEST_F(WebsocketProtocol, SubscribePublicChannelAndReceivePublishedEvents) {
  Start();
  PusherConnection c = Connect();
  auto reply = c.subscribe("orders");
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  EXPECT_EQ(WsClient::channel_of(*reply), "orders");
  EXPECT_EQ(WsClient::data_string(*reply), "{}");

  Publish("orders", "hello");
  auto e = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "orders");
  ASSERT_TRUE(e->at("data").is_string()) << Describe(e);
  EXPECT_EQ(WsClient::data_string(*e), "hello");

  // A JSON object without an envelope: data is its compact JSON text.
  Publish("orders", json::parse(R"({"status":"purchased"})"));
  e = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(json::parse(WsClient::data_string(*e)), json::parse(R"({"status":"purchased"})"));

  // An envelope: its own event name and data.
  Publish("orders", json::parse(R"({"event":"order.updated","data":{"id":42}})"));
  e = c->wait_event("order.updated", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "orders");
  EXPECT_EQ(json::parse(WsClient::data_string(*e)), json::parse(R"({"id":42})"));
}

TEST_F(WebsocketProtocol, EventsArriveInOrderToEverySubscriberOfEveryTopic) {
  Start();
  PusherConnection a = Subscribed("a");
  PusherConnection b = Subscribed("b");
  PusherConnection both = Connect();
  ASSERT_TRUE(Succeeded(both.subscribe("a")));
  ASSERT_TRUE(Succeeded(both.subscribe("b")));
  json::object body;
  body["topics"] = json::array{"a", "b"};
  body["messages"] = json::array{"1", "2", "3"};
  ASSERT_EQ(server_->post("/api/publish", json::serialize(body), kAuth).status, 200);
  for (auto* c : {&a, &b}) {
    for (const std::string n : {"1", "2", "3"}) {
      auto e = (*c)->wait_event("message", Millis(3000));
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(WsClient::data_string(*e), n);
    }
  }
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    auto e = both->wait_event("message", Millis(3000));
    ASSERT_TRUE(e.has_value()) << i;
    seen.push_back(WsClient::channel_of(*e) + ":" + WsClient::data_string(*e));
  }
  EXPECT_THAT(seen, UnorderedElementsAre("a:1", "a:2", "a:3", "b:1", "b:2", "b:3"));
}

TEST_F(WebsocketProtocol, SubscribingTwiceAnswersAgainAndDeliversOnce) {
  Start();
  PusherConnection c = Subscribed("orders");
  auto again = c.subscribe("orders");
  EXPECT_TRUE(Succeeded(again)) << Describe(again);
  Publish("orders", "once");
  Publish("orders", "marker");
  auto e = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "once");
  e = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "marker") << "a double subscription delivered twice";
}

TEST_F(WebsocketProtocol, UnsubscribeStopsDelivery) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(Succeeded(c.subscribe("gone")));
  ASSERT_TRUE(Succeeded(c.subscribe("kept")));
  ASSERT_TRUE(c->send_event("pusher:unsubscribe", json::object{{"channel", "gone"}}));
  // The unsubscribe has no reply; a ping round trip orders it before the publishes.
  ExpectAlive(c, "after unsubscribe");
  Publish("gone", "must-not-arrive");
  Publish("kept", "marker");
  auto e = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "kept") << Describe(e);
  EXPECT_EQ(WsClient::data_string(*e), "marker");
  for (const auto& r : c->received()) {
    if (WsClient::event_name(r) == "message") {
      EXPECT_NE(WsClient::channel_of(r), "gone") << json::serialize(r);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pings and the activity timeout

TEST_F(WebsocketProtocol, PusherPingGetsPusherPong) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_text(R"({"event":"pusher:ping","data":{}})"));
  auto pong = c->next_event(Millis(3000));
  EXPECT_EQ(pong ? WsClient::event_name(*pong) : "", "pusher:pong") << Describe(pong);
  // Also with the data as a JSON string, as some clients send it.
  ASSERT_TRUE(c->send_text(R"({"event":"pusher:ping","data":"{}"})"));
  pong = c->next_event(Millis(3000));
  EXPECT_EQ(pong ? WsClient::event_name(*pong) : "", "pusher:pong") << Describe(pong);
}

TEST_F(WebsocketProtocol, WebSocketPingGetsPongWithTheSamePayload) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_ping("payload-123"));
  auto frame = c->read_frame(Millis(3000));
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->opcode, ws::kPong);
  EXPECT_EQ(frame->payload, "payload-123");
  EXPECT_FALSE(frame->masked);
}

TEST_F(WebsocketProtocol, SilentClientGetsPusherPingThenClose4201WhileAnActiveOneStays) {
  Start("activity_timeout_s = 1\n");
  PusherConnection silent = Connect();
  PusherConnection active = Connect();
  silent->auto_pong = false;
  const auto start = std::chrono::steady_clock::now();

  // The active client answers every pusher:ping with pusher:pong, in a thread of its own.
  std::atomic<bool> active_closed{false};
  std::atomic<int> active_pings{0};
  std::thread responder([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3500);
    while (std::chrono::steady_clock::now() < until) {
      auto e = active->next_event(Millis(200));
      if (active->close_frame() || active->eof()) {
        active_closed = true;
        return;
      }
      if (e && WsClient::event_name(*e) == "pusher:ping") {
        ++active_pings;
        active->send_event("pusher:pong", json::object());
      }
    }
  });

  auto ping = silent->next_event(Millis(3000));
  ASSERT_TRUE(ping.has_value()) << "no pusher:ping within 3 s of silence (activity_timeout_s = 1)";
  EXPECT_EQ(WsClient::event_name(*ping), "pusher:ping") << Describe(ping);
  const auto ping_after = std::chrono::steady_clock::now() - start;
  EXPECT_GE(ping_after, Millis(800));
  auto close = silent->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed after the unanswered ping";
  EXPECT_EQ(close->close_code(), 4201) << "close opcode " << close->opcode;
  responder.join();
  EXPECT_FALSE(active_closed) << "a client answering pings was closed";
  EXPECT_GE(active_pings.load(), 1);
  ExpectAlive(active, "the active client");
}

// ---------------------------------------------------------------------------------------------
// Private and presence channels

TEST_F(WebsocketProtocol, PrivateChannelWithCorrectAuthSucceeds) {
  Start();
  PusherConnection c = Connect();
  auto reply = c.subscribe("private-orders", ChannelAuth(c.socket_id, "private-orders"));
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  Publish("private-orders", "secret-news");
  auto e = c->wait_event("message", Millis(3000), "private-orders");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_string(*e), "secret-news");

  // private-encrypted-: the same signature rule; payloads relayed as they are.
  reply = c.subscribe("private-encrypted-x", ChannelAuth(c.socket_id, "private-encrypted-x"));
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  Publish("private-encrypted-x", json::parse(R"({"event":"e","data":{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}})"));
  e = c->wait_event("e", Millis(3000), "private-encrypted-x");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(json::parse(WsClient::data_string(*e)),
            json::parse(R"({"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"})"));
}

TEST_F(WebsocketProtocol, PrivateChannelWithWrongOrMissingAuthIsAuthError401) {
  Start();
  PusherConnection c = Connect();
  PusherConnection other = Connect();
  const std::string channel = "private-orders";
  const std::string good = ChannelAuth(c.socket_id, channel);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing", ""},
      {"wrong signature", kAppKey + ":" + std::string(64, '0')},
      {"another socket's", ChannelAuth(other.socket_id, channel)},
      {"another channel's", ChannelAuth(c.socket_id, "private-other")},
      {"wrong key", "other-key:" + good.substr(kAppKey.size() + 1)},
      {"no key", good.substr(kAppKey.size() + 1)},
      {"upper-case hex", kAppKey + ":" + [&] {
         std::string s = good.substr(kAppKey.size() + 1);
         for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
         return s;
       }()},
      {"truncated", good.substr(0, good.size() - 1)},
  };
  for (const auto& [what, auth] : cases) {
    auto reply = c.subscribe(channel, auth);
    EXPECT_EQ(SubscriptionError(reply), "AuthError/401") << what;
    if (reply && WsClient::event_name(*reply) == "pusher:subscription_error") {
      EXPECT_EQ(WsClient::channel_of(*reply), channel) << what;
    }
  }
  // Nothing was subscribed: a publish does not arrive, and the socket still works.
  Publish(channel, "must-not-arrive");
  ExpectAlive(c, "after auth errors");
  for (const auto& r : c->received()) EXPECT_NE(WsClient::event_name(r), "message") << json::serialize(r);
  // A private-encrypted- channel without auth too.
  EXPECT_EQ(SubscriptionError(c.subscribe("private-encrypted-x")), "AuthError/401");
}

TEST_F(WebsocketProtocol, PresenceMembersAddedAndRemovedPerUser) {
  Start();
  const std::string channel = "presence-room";
  const std::string data1 = R"({"user_id":"1","user_info":{"name":"Ann"}})";
  const std::string data2 = R"({"user_id":"2","user_info":{"name":"Bob"}})";

  PusherConnection ann = Connect();
  auto reply = ann.subscribe(channel, ChannelAuth(ann.socket_id, channel, data1), data1);
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  json::value presence = WsClient::data_of(*reply);
  ASSERT_TRUE(presence.is_object() && presence.as_object().contains("presence")) << Describe(reply);
  EXPECT_EQ(presence.at("presence").at("count"), json::value(1));
  EXPECT_EQ(presence.at("presence").at("ids"), json::parse(R"(["1"])"));
  EXPECT_EQ(presence.at("presence").at("hash"), json::parse(R"({"1":{"name":"Ann"}})"));

  PusherConnection bob = Connect();
  reply = bob.subscribe(channel, ChannelAuth(bob.socket_id, channel, data2), data2);
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  presence = WsClient::data_of(*reply);
  ASSERT_TRUE(presence.is_object() && presence.as_object().contains("presence")) << Describe(reply);
  EXPECT_EQ(presence.at("presence").at("count"), json::value(2));
  EXPECT_EQ(presence.at("presence").at("hash"),
            json::parse(R"({"1":{"name":"Ann"},"2":{"name":"Bob"}})"));

  auto added = ann->wait_event("pusher_internal:member_added", Millis(3000), channel);
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(WsClient::data_of(*added), json::parse(R"({"user_id":"2","user_info":{"name":"Bob"}})"));

  // Bob's second socket: no member_added for anyone; Bob's sockets never see their own.
  PusherConnection bob2 = Connect();
  reply = bob2.subscribe(channel, ChannelAuth(bob2.socket_id, channel, data2), data2);
  ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  EXPECT_EQ(WsClient::data_of(*reply).at("presence").at("count"), json::value(2));
  // Bob's first socket leaves: Bob is still there.
  bob->send_event("pusher:unsubscribe", json::object{{"channel", channel}});
  ExpectAlive(bob, "bob");
  // Bob's last socket goes away: member_removed once.
  bob2->close_socket();
  auto removed = ann->wait_event("pusher_internal:member_removed", Millis(3000), channel);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(WsClient::data_of(*removed), json::parse(R"({"user_id":"2"})"));
  ExpectAlive(ann, "ann");
  int added_count = 0, removed_count = 0;
  for (const auto& r : ann->received()) {
    added_count += WsClient::event_name(r) == "pusher_internal:member_added";
    removed_count += WsClient::event_name(r) == "pusher_internal:member_removed";
  }
  EXPECT_EQ(added_count, 1) << "member_added per socket instead of per user";
  EXPECT_EQ(removed_count, 1) << "member_removed per socket instead of per user";
  for (const auto& r : bob->received())
    EXPECT_THAT(WsClient::event_name(r), Not(HasSubstr("member_")))
        << "a socket saw a member event it caused: " << json::serialize(r);
}

TEST_F(WebsocketProtocol, PresenceWithoutOrWithBadChannelDataIsAuthError) {
  Start();
  const std::string channel = "presence-room";
  PusherConnection c = Connect();
  // No channel_data (auth over socket:channel only).
  EXPECT_EQ(SubscriptionError(c.subscribe(channel, ChannelAuth(c.socket_id, channel))),
            "AuthError/401");
  // channel_data that is not JSON, or has no user_id, signed correctly.
  for (const std::string data : {"not json", R"({"user_info":{}})", R"([1,2])"}) {
    EXPECT_EQ(SubscriptionError(c.subscribe(channel, ChannelAuth(c.socket_id, channel, data), data)),
              "AuthError/401")
        << data;
  }
  // Good channel_data, signature over other data.
  const std::string data = R"({"user_id":"1"})";
  EXPECT_EQ(SubscriptionError(c.subscribe(channel, ChannelAuth(c.socket_id, channel, R"({"user_id":"2"})"), data)),
            "AuthError/401");
  ExpectAlive(c, "after presence errors");
}

TEST_F(WebsocketProtocol, PresenceLimits) {
  Start("presence_max_members = 2\npresence_max_user_info_bytes = 64\n");
  const std::string channel = "presence-small";
  std::vector<PusherConnection> members;
  for (int i = 1; i <= 2; ++i) {
    members.push_back(Connect());
    const std::string data = R"({"user_id":")" + std::to_string(i) + R"(","user_info":{}})";
    auto reply = members.back().subscribe(channel, ChannelAuth(members.back().socket_id, channel, data), data);
    ASSERT_TRUE(Succeeded(reply)) << Describe(reply);
  }
  PusherConnection third = Connect();
  std::string data = R"({"user_id":"3","user_info":{}})";
  EXPECT_EQ(SubscriptionError(third.subscribe(channel, ChannelAuth(third.socket_id, channel, data), data)),
            "LimitReached/4100");
  // An existing user on another socket is not a new member.
  PusherConnection again = Connect();
  data = R"({"user_id":"1","user_info":{}})";
  EXPECT_TRUE(Succeeded(again.subscribe(channel, ChannelAuth(again.socket_id, channel, data), data)));
  // user_info over 64 bytes.
  data = R"({"user_id":"9","user_info":{"bio":")" + std::string(100, 'x') + R"("}})";
  EXPECT_EQ(SubscriptionError(third.subscribe("presence-other", ChannelAuth(third.socket_id, "presence-other", data), data)),
            "LimitReached/4301");
}

// ---------------------------------------------------------------------------------------------
// Client events

TEST_F(WebsocketProtocol, ClientEventsRelayToOtherSubscribersNotTheSender) {
  Start();
  const std::string channel = "private-chat";
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  ASSERT_TRUE(Succeeded(a.subscribe(channel, ChannelAuth(a.socket_id, channel))));
  ASSERT_TRUE(Succeeded(b.subscribe(channel, ChannelAuth(b.socket_id, channel))));
  ASSERT_TRUE(a->send_event("client-typing", json::object{{"who", "a"}}, channel));
  auto e = b->wait_event("client-typing", Millis(3000), channel);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::data_of(*e), json::parse(R"({"who":"a"})"));
  // Not echoed: a ping round trip on the sender sees nothing else first.
  ExpectAlive(a, "sender");
  for (const auto& r : a->received())
    EXPECT_NE(WsClient::event_name(r), "client-typing") << "echoed to the sender";
}

TEST_F(WebsocketProtocol, ClientEventsOnPresenceCarryUserId) {
  Start();
  const std::string channel = "presence-chat";
  const std::string d1 = R"({"user_id":"u1","user_info":{}})", d2 = R"({"user_id":"u2","user_info":{}})";
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  ASSERT_TRUE(Succeeded(a.subscribe(channel, ChannelAuth(a.socket_id, channel, d1), d1)));
  ASSERT_TRUE(Succeeded(b.subscribe(channel, ChannelAuth(b.socket_id, channel, d2), d2)));
  ASSERT_TRUE(a->send_event("client-hello", json::object{{"x", 1}}, channel));
  auto e = b->wait_event("client-hello", Millis(3000), channel);
  ASSERT_TRUE(e.has_value());
  ASSERT_TRUE(e->contains("user_id")) << Describe(e);
  EXPECT_EQ(Str(e->at("user_id")), "u1");
}

TEST_F(WebsocketProtocol, ClientEventsRefusedWith4301) {
  Start();
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  ASSERT_TRUE(Succeeded(a.subscribe("public-chat")));
  ASSERT_TRUE(Succeeded(b.subscribe("public-chat")));
  ASSERT_TRUE(Succeeded(b.subscribe("private-chat", ChannelAuth(b.socket_id, "private-chat"))));

  // On a public channel.
  ASSERT_TRUE(a->send_event("client-x", json::object(), "public-chat"));
  auto err = a->wait_event("pusher:error", Millis(3000));
  EXPECT_EQ(ErrorCode(err), 4301) << "public channel: " << Describe(err);
  // From a non-subscriber of a private channel.
  ASSERT_TRUE(a->send_event("client-x", json::object(), "private-chat"));
  err = a->wait_event("pusher:error", Millis(3000));
  EXPECT_EQ(ErrorCode(err), 4301) << "non-subscriber: " << Describe(err);
  // A bad event name (over 200 characters).
  ASSERT_TRUE(Succeeded(a.subscribe("private-chat", ChannelAuth(a.socket_id, "private-chat"))));
  ASSERT_TRUE(a->send_event("client-" + std::string(200, 'n'), json::object(), "private-chat"));
  err = a->wait_event("pusher:error", Millis(3000));
  EXPECT_EQ(ErrorCode(err), 4301) << "long name: " << Describe(err);

  // None of them reached b; the sockets stay open.
  ExpectAlive(a, "sender");
  ExpectAlive(b, "receiver");
  for (const auto& r : b->received())
    EXPECT_THAT(WsClient::event_name(r), Not(HasSubstr("client-"))) << json::serialize(r);
}

TEST_F(WebsocketProtocol, ClientEventsOffAreRefused) {
  Start("client_events = false\n");
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  ASSERT_TRUE(Succeeded(a.subscribe("private-chat", ChannelAuth(a.socket_id, "private-chat"))));
  ASSERT_TRUE(Succeeded(b.subscribe("private-chat", ChannelAuth(b.socket_id, "private-chat"))));
  ASSERT_TRUE(a->send_event("client-x", json::object(), "private-chat"));
  auto err = a->wait_event("pusher:error", Millis(3000));
  EXPECT_EQ(ErrorCode(err), 4301) << Describe(err);
  ExpectAlive(b, "receiver");
  for (const auto& r : b->received()) EXPECT_NE(WsClient::event_name(r), "client-x");
}

TEST_F(WebsocketProtocol, ClientEventsOverTheRateAreDroppedWith4301) {
  Start("client_events_per_second = 10\n");
  const std::string channel = "private-chat";
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  ASSERT_TRUE(Succeeded(a.subscribe(channel, ChannelAuth(a.socket_id, channel))));
  ASSERT_TRUE(Succeeded(b.subscribe(channel, ChannelAuth(b.socket_id, channel))));
  constexpr int kSent = 30;
  for (int i = 0; i < kSent; ++i)
    ASSERT_TRUE(a->send_event("client-n", json::object{{"i", i}}, channel));
  ExpectAlive(a, "sender over the rate");  // the socket is kept
  int errors = 0;
  for (const auto& r : a->received()) errors += ErrorCode(r) == 4301;
  EXPECT_GE(errors, 1) << "no 4301 for client events over 10/s";
  // b gets at most about one second's worth (10, some slack for a window boundary).
  ExpectAlive(b, "receiver");
  int relayed = 0;
  for (const auto& r : b->received()) relayed += WsClient::event_name(r) == "client-n";
  EXPECT_GE(relayed, 1);
  EXPECT_LE(relayed, 20) << "the rate limit let " << relayed << " of " << kSent << " through";
  EXPECT_EQ(relayed + errors, kSent) << "each event is either relayed or refused";
}

// ---------------------------------------------------------------------------------------------
// Sign-in

TEST_F(WebsocketProtocol, SigninWithAGoodSignatureSucceeds) {
  Start();
  PusherConnection c = Connect();
  const std::string user_data = R"({"id":"42","name":"Ann"})";
  ASSERT_TRUE(c->send_event("pusher:signin",
                            json::object{{"auth", UserAuth(c.socket_id, user_data)}, {"user_data", user_data}}));
  auto e = c->next_event(Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::event_name(*e), "pusher:signin_success") << Describe(e);
  const json::value data = WsClient::data_of(*e);
  ASSERT_TRUE(data.is_object()) << Describe(e);
  ASSERT_TRUE(data.as_object().contains("user_data")) << Describe(e);
  EXPECT_EQ(Str(data.at("user_data")), user_data);
  ExpectAlive(c, "after sign-in");
}

TEST_F(WebsocketProtocol, SigninWithABadSignatureOrNoIdIs4009AndClose) {
  Start();
  {
    PusherConnection c = Connect();
    const std::string user_data = R"({"id":"42"})";
    ASSERT_TRUE(c->send_event("pusher:signin",
                              json::object{{"auth", UserAuth("1.1", user_data)}, {"user_data", user_data}}));
    auto err = c->wait_event("pusher:error", Millis(3000));
    EXPECT_EQ(ErrorCode(err), 4009) << Describe(err);
    auto close = c->wait_close(Millis(3000));
    ASSERT_TRUE(close.has_value());
    EXPECT_EQ(close->close_code(), 4009);
  }
  {
    PusherConnection c = Connect();
    const std::string user_data = R"({"name":"no id"})";
    ASSERT_TRUE(c->send_event("pusher:signin",
                              json::object{{"auth", UserAuth(c.socket_id, user_data)}, {"user_data", user_data}}));
    auto err = c->wait_event("pusher:error", Millis(3000));
    EXPECT_EQ(ErrorCode(err), 4009) << Describe(err);
    auto close = c->wait_close(Millis(3000));
    ASSERT_TRUE(close.has_value());
    EXPECT_EQ(close->close_code(), 4009);
  }
  ExpectServerHealthy("after bad sign-ins");
}

// ---------------------------------------------------------------------------------------------
// Channel names and limits

TEST_F(WebsocketProtocol, InvalidChannelNamesAreLimitReached4009) {
  Start();
  PusherConnection c = Connect();
  for (const std::string& bad : {std::string(201, 'a'), std::string("bad channel"), std::string("bad!"),
                                std::string("a/b"), std::string("\xc3\xa9t\xc3\xa9"), std::string(""),
                                std::string("a#b")}) {
    auto reply = c.subscribe(bad);
    if (bad.empty()) {
      // An empty name: any refusal, never success.
      EXPECT_FALSE(Succeeded(reply)) << Describe(reply);
      continue;
    }
    EXPECT_EQ(SubscriptionError(reply), "LimitReached/4009") << "`" << bad << "`";
  }
  for (const std::string& good : {std::string(200, 'a'), std::string("#hash"), std::string("azAZ09_-=@,.;")}) {
    auto reply = c.subscribe(good);
    EXPECT_TRUE(Succeeded(reply)) << "`" << good << "`: " << Describe(reply);
  }
  ExpectAlive(c, "after bad names");
}

TEST_F(WebsocketProtocol, MaxChannelsPerConnection) {
  Start("max_channels_per_connection = 3\n");
  PusherConnection c = Connect();
  for (const std::string ch : {"c1", "c2", "c3"}) ASSERT_TRUE(Succeeded(c.subscribe(ch))) << ch;
  EXPECT_EQ(SubscriptionError(c.subscribe("c4")), "LimitReached/4100");
  // Re-subscribing to one it has is not a new one.
  EXPECT_TRUE(Succeeded(c.subscribe("c1")));
  c->send_event("pusher:unsubscribe", json::object{{"channel", "c2"}});
  EXPECT_TRUE(Succeeded(c.subscribe("c4")));
  // The limit is per socket.
  PusherConnection other = Connect();
  EXPECT_TRUE(Succeeded(other.subscribe("c5")));
}

TEST_F(WebsocketProtocol, MaxConnectionsRefusesWith4100) {
  Start("max_connections = 2\n");
  PusherConnection a = Connect();
  PusherConnection b = Connect();
  std::optional<json::object> first;
  PusherConnection c = pusher_connect(ws_port_, kAppKey, &first);
  ASSERT_TRUE(c->upgraded()) << c->response_head();
  EXPECT_EQ(ErrorCode(first), 4100) << Describe(first);
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->close_code(), 4100);
  // A freed slot can be used again.
  a->close_socket();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::string socket_id;
  while (socket_id.empty() && std::chrono::steady_clock::now() < deadline) {
    PusherConnection d = pusher_connect(ws_port_, kAppKey);
    socket_id = d.socket_id;
    if (socket_id.empty()) std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_FALSE(socket_id.empty()) << "a closed connection's slot was never freed";
  ExpectAlive(b, "an existing connection");
}

TEST_F(WebsocketProtocol, AllowedOriginsRefuseOtherOriginsWith403) {
  Start("allowed_origins = [\"https://good.example\"]\n");
  WsClient::Options bad;
  bad.target = "/app/app-key?protocol=7";
  bad.headers = {{"Origin", "https://evil.example"}};
  auto refused = WsClient::open(ws_port_, bad);
  EXPECT_EQ(refused->handshake_status(), 403) << refused->response_head();
  WsClient::Options good = bad;
  good.headers = {{"Origin", "https://good.example"}};
  auto accepted = WsClient::open(ws_port_, good);
  ASSERT_TRUE(accepted->upgraded()) << accepted->response_head();
  auto first = accepted->next_event(Millis(3000));
  EXPECT_EQ(first ? WsClient::event_name(*first) : "", "pusher:connection_established");
}

TEST_F(WebsocketProtocol, ShutdownClosesEverySocketWith4200) {
  Start();
  PusherConnection a = Subscribed("x");
  PusherConnection b = Connect();
  server_->process().signal(SIGTERM);
  for (auto* c : {&a, &b}) {
    auto close = (*c)->wait_close(Millis(5000));
    ASSERT_TRUE(close.has_value());
    EXPECT_EQ(close->close_code(), 4200);
  }
  EXPECT_EQ(server_->process().wait(std::chrono::seconds(10)), 0);
}

TEST_F(WebsocketProtocol, MetricsCountConnectionsAndDeliveries) {
  Start();
  PusherConnection a = Subscribed("m");
  Publish("m", "x");
  ASSERT_TRUE(a->wait_event("message", Millis(3000)).has_value());
  const HttpReply metrics = server_->get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("herald_ws_connections{connection=\"websocket\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("herald_ws_messages_delivered_total{connection=\"websocket\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("herald_ws_subscriptions{connection=\"websocket\"}"));
  const HttpReply health = server_->get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_THAT(health.body, HasSubstr("websocket"));
}

// ---------------------------------------------------------------------------------------------
// Abuse: bad input never crashes anything

TEST_F(WebsocketAbuse, BadMessagesGetError4200AndTheSocketStaysOpen) {
  Start();
  PusherConnection c = Subscribed("still-here");
  const std::vector<std::string> bad = {
      "not json at all", "{\"event\":", "[1,2,3]", "42", "\"a string\"", "null",
      R"({"data":{}})", R"({"event":42,"data":{}})", R"({"event":"pusher:nonsense","data":{}})",
      R"({"event":"pusher:subscribe","data":"not an object"})",
      R"({"event":"pusher:subscribe","data":{"channel":42}})"};
  for (const auto& text : bad) {
    ASSERT_TRUE(c->send_text(text)) << text;
    auto e = c->next_event(Millis(3000));
    if (text.find("pusher:subscribe") != std::string::npos &&
        e && WsClient::event_name(*e) == "pusher:subscription_error")
      continue;  // a malformed subscribe may be answered as a subscription error
    EXPECT_EQ(ErrorCode(e), 4200) << text << " -> " << Describe(e);
  }
  ASSERT_TRUE(c->send_binary(std::string("\x00\x01\x02binary", 9)));
  auto e = c->next_event(Millis(3000));
  EXPECT_EQ(ErrorCode(e), 4200) << "binary frame -> " << Describe(e);
  ExpectAlive(c, "after bad messages");
  Publish("still-here", "delivered");
  auto m = c->wait_event("message", Millis(3000));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(WsClient::data_string(*m), "delivered");
  ExpectServerHealthy("after bad messages");
}

TEST_F(WebsocketAbuse, FragmentedMessageIsOneMessage) {
  Start();
  PusherConnection c = Connect();
  const std::string text = R"({"event":"pusher:ping","data":{}})";
  ASSERT_TRUE(c->send_frame(ws::kText, text.substr(0, 10), true, false));
  ASSERT_TRUE(c->send_frame(ws::kContinuation, text.substr(10, 10), true, false));
  ASSERT_TRUE(c->send_frame(ws::kPing, "in-between"));  // control frames may interleave
  ASSERT_TRUE(c->send_frame(ws::kContinuation, text.substr(20), true, true));
  auto pong = c->wait_event("pusher:pong", Millis(3000));
  EXPECT_TRUE(pong.has_value());
  EXPECT_THAT(c->pongs(), Contains("in-between"));
}

TEST_F(WebsocketAbuse, OversizedMessageClosesWith1009) {
  Start("max_message_bytes = 10240\n");
  PusherConnection c = Connect();
  const std::string text = R"({"event":"client-x","channel":"private-a","data":")" + std::string(20000, 'x') + "\"}";
  c->send_text(text);
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_EQ(close->close_code(), 1009);
  // Just under the limit is fine.
  PusherConnection ok = Connect();
  ok->send_text(R"({"event":"pusher:ping","data":{"pad":")" + std::string(10000, 'p') + "\"}}");
  EXPECT_TRUE(ok->wait_event("pusher:pong", Millis(3000)).has_value()) << "a 10 kB message was refused";
  ExpectServerHealthy("after an oversized message");
}

TEST_F(WebsocketAbuse, HeaderAnnouncingAHugeLengthClosesWith1009) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_raw(ws::encode_header(ws::kText, std::uint64_t(1) << 62)));
  c->send_raw(std::string(4096, 'a'));
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_EQ(close->close_code(), 1009);
  ExpectServerHealthy("after a huge announced length");
}

TEST_F(WebsocketAbuse, UnmaskedClientFrameClosesWith1002) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_frame(ws::kText, R"({"event":"pusher:ping","data":{}})", /*mask=*/false));
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_EQ(close->close_code(), 1002);
  for (const auto& r : c->received()) EXPECT_NE(WsClient::event_name(r), "pusher:pong");
  ExpectServerHealthy("after an unmasked frame");
}

TEST_F(WebsocketAbuse, BadOpcodeClosesWith1002) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_frame(0x3, "reserved opcode"));
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_EQ(close->close_code(), 1002);
  ExpectServerHealthy("after a bad opcode");
}

TEST_F(WebsocketAbuse, InvalidUtf8TextClosesWith1007) {
  Start();
  PusherConnection c = Connect();
  ASSERT_TRUE(c->send_text("{\"event\":\"pusher:ping\",\"data\":\"\xff\xfe\"}"));
  auto close = c->wait_close(Millis(3000));
  ASSERT_TRUE(close.has_value()) << "not closed";
  EXPECT_THAT(close->close_code(), AnyOf(Eq(1007), Eq(1002)));
  ExpectServerHealthy("after invalid UTF-8");
}

TEST_F(WebsocketAbuse, PartialFramesAndAbruptDisconnects) {
  Start();
  {
    PusherConnection c = Connect();
    const std::string frame = ws::encode_frame(ws::kText, R"({"event":"pusher:subscribe","data":{"channel":"x"}})");
    c->send_raw(frame.substr(0, 7));
    c->close_socket();
  }
  {
    PusherConnection c = Connect();
    c->send_raw(ws::encode_frame(ws::kText, std::string(5000, 'y')).substr(0, 3000));
    c->close_socket(/*reset=*/true);
  }
  {
    // Half a handshake.
    auto raw = std::make_unique<WsClient>(ws_port_);
    raw->send_raw("GET /app/app-key HTTP/1.1\r\nHost: x\r\nUpgr");
    raw->close_socket(true);
  }
  {
    // A partial frame, then nothing: the socket remains usable for others.
    PusherConnection c = Connect();
    c->send_raw(ws::encode_frame(ws::kText, R"({"event":"pusher:ping","data":{}})").substr(0, 10));
    ExpectServerHealthy("while a partial frame is pending");
  }
  ExpectServerHealthy("after partial frames and resets");
}

TEST_F(WebsocketAbuse, SubscribeFloodKeepsTheServerResponsive) {
  Start();
  PusherConnection c = Connect();
  constexpr int kFrames = 5000;
  std::string burst;
  for (int i = 0; i < kFrames; ++i)
    burst += ws::encode_frame(ws::kText, R"({"event":"pusher:subscribe","data":{"channel":"flood-)" +
                                             std::to_string(i) + "\"}}");
  std::atomic<bool> sent{false};
  std::thread writer([&] { sent = c->send_raw(burst); });
  int succeeded = 0, limited = 0, other = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (succeeded + limited + other < kFrames && std::chrono::steady_clock::now() < deadline) {
    auto e = c->next_event(Millis(3000));
    if (!e) break;
    const std::string name = WsClient::event_name(*e);
    if (name == "pusher_internal:subscription_succeeded") ++succeeded;
    else if (SubscriptionError(e) == "LimitReached/4100") ++limited;
    else ++other;
  }
  writer.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(succeeded, 100) << "max_channels_per_connection defaults to 100";
  EXPECT_EQ(limited, kFrames - 100);
  EXPECT_EQ(other, 0);
  ExpectAlive(c, "the flooding socket");
  ExpectServerHealthy("after a subscribe flood");
}

TEST_F(WebsocketAbuse, AThousandChannelsOnOneSocket) {
  Start("max_channels_per_connection = 1000\n");
  PusherConnection c = Connect();
  std::string burst;
  for (int i = 0; i < 1000; ++i)
    burst += ws::encode_frame(ws::kText, R"({"event":"pusher:subscribe","data":{"channel":"ch-)" +
                                             std::to_string(i) + "\"}}");
  ASSERT_TRUE(c->send_raw(burst));
  int succeeded = 0;
  while (succeeded < 1000) {
    auto e = c->next_event(Millis(3000));
    if (!e) break;
    ASSERT_TRUE(Succeeded(e)) << Describe(e);
    ++succeeded;
  }
  EXPECT_EQ(succeeded, 1000);
  EXPECT_EQ(SubscriptionError(c.subscribe("ch-1000")), "LimitReached/4100");
  json::object body;
  body["topics"] = json::array{"ch-0", "ch-500", "ch-999"};
  body["message"] = "fan";
  ASSERT_EQ(server_->post("/api/publish", json::serialize(body), kAuth).status, 200);
  std::set<std::string> channels;
  for (int i = 0; i < 3; ++i) {
    auto e = c->wait_event("message", Millis(3000));
    ASSERT_TRUE(e.has_value());
    channels.insert(WsClient::channel_of(*e));
  }
  EXPECT_EQ(channels, (std::set<std::string>{"ch-0", "ch-500", "ch-999"}));
  ExpectServerHealthy("with 1000 channels on one socket");
}

TEST_F(WebsocketAbuse, ASocketThatNeverReadsIsClosedWith4100AndOthersGetEverything) {
  Start("send_queue_bytes = 65536\n");
  constexpr int kEvents = 1000;
  constexpr int kPerRequest = 50;
  const std::string payload(9000, 'z');

  PusherConnection fast = Subscribed("big");
  WsClient::Options small;
  small.receive_buffer = 4096;
  PusherConnection slow = pusher_connect(ws_port_, kAppKey, nullptr, small);
  ASSERT_FALSE(slow.socket_id.empty());
  ASSERT_TRUE(Succeeded(slow.subscribe("big")));
  const long rss_before = process_rss_kb(server_->process().pid());

  std::atomic<int> fast_count{0};
  std::atomic<bool> fast_in_order{true};
  std::thread reader([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fast_count < kEvents && std::chrono::steady_clock::now() < deadline) {
      auto e = fast->next_event(Millis(2000));
      if (!e) {
        if (fast->close_frame() || fast->eof()) return;
        continue;
      }
      if (WsClient::event_name(*e) != "message") continue;
      const std::string data = WsClient::data_string(*e);
      if (data.substr(0, data.find(':')) != std::to_string(fast_count.load())) fast_in_order = false;
      ++fast_count;
    }
  });

  long rss_peak = rss_before;
  for (int sent = 0; sent < kEvents; sent += kPerRequest) {
    json::array messages;
    for (int i = sent; i < sent + kPerRequest; ++i) messages.emplace_back(std::to_string(i) + ":" + payload);
    PublishMany("big", messages);
    rss_peak = std::max(rss_peak, process_rss_kb(server_->process().pid()));
  }
  reader.join();
  EXPECT_EQ(fast_count.load(), kEvents) << "the fast subscriber lost events";
  EXPECT_TRUE(fast_in_order.load());
  EXPECT_FALSE(fast->close_frame().has_value());

  // The slow one: its buffered events, then close 4100 (or the TCP connection ends when the
  // close frame could not be written); never all the events.
  int slow_count = 0;
  std::optional<ws::Frame> close;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto e = slow->next_event(Millis(2000));
    if (e && WsClient::event_name(*e) == "message") ++slow_count;
    if (slow->close_frame()) {
      close = slow->close_frame();
      break;
    }
    if (slow->eof() || !e) break;
  }
  EXPECT_LT(slow_count, kEvents) << "the slow socket was never dropped";
  ASSERT_TRUE(close.has_value() || slow->eof()) << "the slow socket is still open";
  // A close frame when it could be written; when it sat behind bytes the client had not read
  // within the close grace (2 s; a slow machine or a sanitizer build), the server ends the TCP
  // connection instead. Either way the server decided 4100: the metric below says so.
  if (close) {
    EXPECT_EQ(close->close_code(), 4100);
  }

  // Memory stayed bounded: 9 MB of events went out; the server must not have buffered them
  // per socket.
  // (Not under ASan: its quarantine keeps every freed block resident, so RSS measures the
  // allocator, not the server; the normal build asserts the bound.)
  const long rss_after = process_rss_kb(server_->process().pid());
  ASSERT_GT(rss_before, 0);
#if defined(HERALD_ASAN)
  (void)rss_peak;
  (void)rss_after;
#else
  EXPECT_LT(rss_peak - rss_before, 64 * 1024) << "RSS grew from " << rss_before << " kB to " << rss_peak << " kB";
  EXPECT_LT(rss_after - rss_before, 64 * 1024);
#endif
  const HttpReply metrics = server_->get("/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("herald_ws_slow_consumer_disconnects_total{connection=\"websocket\"} 1"));
  ExpectServerHealthy("after a slow consumer");
}

TEST_F(WebsocketAbuse, AClientThatDisconnectsMidWrite) {
  Start();
  PusherConnection fast = Subscribed("stream");
  const std::string payload(8000, 'q');
  for (int round = 0; round < 3; ++round) {
    WsClient::Options small;
    small.receive_buffer = 4096;
    PusherConnection leaver = pusher_connect(ws_port_, kAppKey, nullptr, small);
    ASSERT_TRUE(Succeeded(leaver.subscribe("stream")));
    json::array messages;
    for (int i = 0; i < 50; ++i) messages.emplace_back(std::to_string(round * 50 + i) + ":" + payload);
    std::thread publisher([&] { PublishMany("stream", messages); });
    // Read a little of it, then vanish (RST on the first and last round, FIN on the other).
    leaver->read_frame(Millis(500));
    leaver->close_socket(/*reset=*/round != 1);
    publisher.join();
  }
  int count = 0;
  while (count < 150) {
    auto e = fast->wait_event("message", Millis(3000));
    if (!e) break;
    ++count;
  }
  EXPECT_EQ(count, 150);
  ExpectServerHealthy("after clients vanished mid-write");
}

TEST_F(WebsocketAbuse, ManyConnectionsOpeningAndClosing) {
  Start();
  for (int i = 0; i < 200; ++i) {
    auto c = std::make_unique<WsClient>(ws_port_);
    if (i % 3 == 0) {
      c->close_socket(true);  // before the handshake
      continue;
    }
    c->handshake("/app/app-key");
    if (i % 3 == 1) c->close_socket(true);  // right after it
    else c->send_close(1000);
  }
  ExpectServerHealthy("after 200 short connections");
}

}  // namespace
