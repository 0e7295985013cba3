// The `websocket` driver end to end with real clients: private channels authorized by Herald's
// authorize endpoint (the driver's guard + a JWT topic rule) through pusher-js's own `ajax`
// authorizer, forged signatures on raw WebSocket frames (npm `ws`), presence channels with one
// user on two sockets, client events, the Pusher HTTP API queries through the npm `pusher`
// library, and the protocol basics a raw client sees. Spec: plugins/websocket/README.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "ws_e2e.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace testing_support::ws_e2e;

class WebsocketChannels : public WsE2ETest {};

const char kUser1[] = R"({"id":"1","info":{"name":"Ann"}})";
const char kUser2[] = R"({"id":"2","info":{"name":"Bob"}})";

json::object UserHeaders(const char* user) { return {{"headers", {{"X-Herald-User", user}}}}; }

json::object Jwt(const std::string& sub) {
  return {{"jwt", {{"secret", kJwtSecret}, {"sub", sub}}}};
}

// A pusher-js `event` line for `event` on `channel`.
Predicate Event(const std::string& event, const std::string& channel) {
  return [event, channel](const Line& line) {
    return str(line.if_contains("event")) == event && str(line.if_contains("channel")) == channel;
  };
}

// A JSON object literal (objects compare regardless of key order).
json::object Parse(const char* text) { return json::parse(text).as_object(); }

// The `data` object of a frame line (empty when it has none).
json::object FrameData(const Line& line) {
  const auto& frame = line.at("frame").as_object();
  const auto* data = frame.if_contains("data");
  return data != nullptr && data->is_object() ? data->as_object() : json::object{};
}

std::string Sorted(const json::array& users) {
  std::vector<std::string> ids;
  for (const auto& u : users) ids.push_back(json::serialize(u));
  std::sort(ids.begin(), ids.end());
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return "[" + out + "]";
}

// The sorted `users` of GET /channels/<presence channel>/users, or what came instead.
std::string Users(const json::object& reply) {
  const auto* users = reply.if_contains("users");
  if (users == nullptr || !users->is_array()) return "no users array: " + json::serialize(reply);
  return Sorted(users->as_array());
}

// ---- 3. private channels --------------------------------------------------------------------

TEST_F(WebsocketChannels, PrivateChannelAuthorizedByTheJwtRule) {
  StartServer();
  json::object good_options = Jwt("7");
  NodePeer& good = Subscribed("good", {"private-order.7"}, good_options);

  // A token for another order, or none: the authorize endpoint says 403 and pusher-js reports
  // the subscription error itself.
  json::object wrong_options = Jwt("8");
  wrong_options["channels"] = json::array{"private-order.7"};
  NodePeer& wrong = PusherJs("wrong", wrong_options);
  NodePeer& anonymous = PusherJs("anonymous", {{"channels", json::array{"private-order.7"}}});
  for (NodePeer* peer : {&wrong, &anonymous}) {
    const auto error = peer->wait_for(has_key("subscription_error"), 15s);
    ASSERT_TRUE(error) << peer->name();
    EXPECT_EQ(str(error->if_contains("subscription_error")), "private-order.7");
    EXPECT_EQ(str(error->if_contains("type")), "AuthError") << json::serialize(*error);
    EXPECT_EQ(str(error->if_contains("status")), "403") << json::serialize(*error);
    EXPECT_EQ(peer->count(has_key("subscribed")), 0u) << peer->name();
  }

  const auto r = ApiPublish(R"({"topic":"private-order.7","message":{"status":"paid"}})");
  EXPECT_EQ(r.status, 200) << r.body;
  const auto got = good.wait_for(Event("message", "private-order.7"));
  ASSERT_TRUE(got);
  EXPECT_EQ(json::serialize(got->at("data")), R"({"status":"paid"})");
  std::this_thread::sleep_for(300ms);  // what the others would have got is there by now
  EXPECT_EQ(wrong.count(has_key("event")), 0u) << wrong.output();
  EXPECT_EQ(anonymous.count(has_key("event")), 0u) << anonymous.output();
}

TEST_F(WebsocketChannels, ForgedAuthOnARawSubscribeIsRefused) {
  StartServer();
  NodePeer& raw = Raw("raw");
  const auto established = raw.wait_for(frame("pusher:connection_established"), 15s);
  ASSERT_TRUE(established) << raw.output();

  const auto expect_auth_error = [&](const json::object& subscribe, const std::string& what) {
    const size_t from = raw.mark();
    raw.send({{"op", "send"}, {"json", subscribe}});
    const auto error = raw.wait_for(
        [](const Line& l) {
          return is_frame(l, "pusher:subscription_error") ||
                 is_frame(l, "pusher_internal:subscription_succeeded");
        },
        10s, from);
    ASSERT_TRUE(error) << what << ": no answer\n" << raw.output();
    EXPECT_TRUE(is_frame(*error, "pusher:subscription_error", "private-order.7"))
        << what << ": " << json::serialize(*error);
    const json::object data = FrameData(*error);
    EXPECT_EQ(str(data.if_contains("type")), "AuthError")
        << what << ": " << json::serialize(*error);
    EXPECT_EQ(str(data.if_contains("status")), "401") << what << ": " << json::serialize(*error);
    EXPECT_TRUE(data.contains("error")) << what << ": " << json::serialize(*error);
  };
  expect_auth_error({{"event", "pusher:subscribe"},
                     {"data",
                      {{"channel", "private-order.7"},
                       {"auth", std::string(kAppKey) + ":" + std::string(64, '0')}}}},
                    "forged signature");
  expect_auth_error({{"event", "pusher:subscribe"}, {"data", {{"channel", "private-order.7"}}}},
                    "no auth");
  expect_auth_error({{"event", "pusher:subscribe"},
                     {"data", {{"channel", "private-order.7"}, {"auth", "not-a-signature"}}}},
                    "malformed auth");
  // Signed with another secret.
  {
    const size_t from = raw.mark();
    raw.send({{"op", "subscribe_signed"},
              {"channel", "private-order.7"},
              {"key", kAppKey},
              {"secret", "another-secret"}});
    const auto error =
        raw.wait_for(frame("pusher:subscription_error", "private-order.7"), 10s, from);
    ASSERT_TRUE(error) << raw.output();
    EXPECT_EQ(str(FrameData(*error).if_contains("status")), "401");
  }
  // The socket is still usable, and the right signature is accepted (so the refusals above
  // were about the signature).
  {
    const size_t from = raw.mark();
    raw.send({{"op", "subscribe_signed"},
              {"channel", "private-order.7"},
              {"key", kAppKey},
              {"secret", kAppSecret}});
    EXPECT_TRUE(
        raw.wait_for(frame("pusher_internal:subscription_succeeded", "private-order.7"), 10s, from))
        << raw.output();
  }
  EXPECT_EQ(raw.count(has_key("close")), 0u) << raw.output();
}

// ---- 4. presence ----------------------------------------------------------------------------

TEST_F(WebsocketChannels, PresenceMembersOneUserOnTwoSockets) {
  StartServer();
  NodePeer& ann1 = Subscribed("ann1", {"presence-room"}, UserHeaders(kUser1));
  {
    const auto s = ann1.wait_for(has("subscribed", "presence-room"));
    ASSERT_TRUE(s);
    EXPECT_EQ(json::serialize(s->at("members")), R"({"count":1,"ids":["1"],"me":"1"})");
  }
  NodePeer& bob = Subscribed("bob", {"presence-room"}, UserHeaders(kUser2));
  {
    const auto s = bob.wait_for(has("subscribed", "presence-room"));
    ASSERT_TRUE(s);
    EXPECT_EQ(json::serialize(s->at("members")), R"({"count":2,"ids":["1","2"],"me":"2"})");
    // What the server sent: ids, hash and count.
    const auto f = bob.wait_for(frame("pusher_internal:subscription_succeeded", "presence-room"));
    ASSERT_TRUE(f);
    const json::object data = FrameData(*f);
    ASSERT_TRUE(data.contains("presence")) << json::serialize(*f);
    const auto& presence = data.at("presence").as_object();
    EXPECT_EQ(Sorted(presence.at("ids").as_array()), R"(["1","2"])") << json::serialize(*f);
    EXPECT_EQ(json::serialize(presence.at("hash").at("1")), R"({"name":"Ann"})");
    EXPECT_EQ(json::serialize(presence.at("hash").at("2")), R"({"name":"Bob"})");
    EXPECT_EQ(json::serialize(presence.at("count")), "2");
  }
  const auto added = ann1.wait_for(has_key("member_added"));
  ASSERT_TRUE(added);
  EXPECT_EQ(json::serialize(*added),
            R"({"member_added":"presence-room","id":"2","info":{"name":"Bob"}})");

  // Ann's second socket: she is already a member, so nobody hears of it.
  NodePeer& ann2 = Subscribed("ann2", {"presence-room"}, UserHeaders(kUser1));
  {
    const auto s = ann2.wait_for(has("subscribed", "presence-room"));
    ASSERT_TRUE(s);
    EXPECT_EQ(json::serialize(s->at("members")), R"({"count":2,"ids":["1","2"],"me":"1"})");
  }
  // A marker through the server after every join: what each socket got before it is complete.
  auto r = ApiPublish(R"({"topic":"presence-room","message":{"event":"marker","data":1}})");
  EXPECT_EQ(r.status, 200) << r.body;
  for (NodePeer* peer : {&ann1, &ann2, &bob})
    EXPECT_TRUE(peer->wait_for(Event("marker", "presence-room"))) << peer->name();
  EXPECT_EQ(ann1.count(frame("pusher_internal:member_added")), 1u) << ann1.output();
  EXPECT_EQ(bob.count(frame("pusher_internal:member_added")), 0u) << bob.output();
  EXPECT_EQ(ann2.count(frame("pusher_internal:member_added")), 0u) << ann2.output();

  // 6. The HTTP API through the npm `pusher` library.
  EXPECT_EQ(Users(RestGet("/channels/presence-room/users")), R"([{"id":"1"},{"id":"2"}])");
  {
    const json::object info =
        RestGet("/channels/presence-room", {{"info", "user_count,subscription_count"}});
    EXPECT_EQ(str(info.if_contains("occupied")), "true") << json::serialize(info);
    EXPECT_EQ(str(info.if_contains("user_count")), "2") << json::serialize(info);
    EXPECT_EQ(str(info.if_contains("subscription_count")), "3") << json::serialize(info);
  }
  {
    const json::object list =
        RestGet("/channels", {{"filter_by_prefix", "presence-"}, {"info", "user_count"}});
    EXPECT_EQ(list, Parse(R"({"channels":{"presence-room":{"user_count":2}}})"));
  }

  // Ann's first socket leaves: she is still there on the second one, so no member_removed.
  ASSERT_TRUE(ann1.run({{"op", "disconnect"}}));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string count;
  while (std::chrono::steady_clock::now() < deadline) {
    count = str(RestGet("/channels/presence-room", {{"info", "subscription_count"}})
                    .if_contains("subscription_count"));
    if (count == "2") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(count, "2") << "the server never saw ann1's socket go";
  r = ApiPublish(R"({"topic":"presence-room","message":{"event":"marker2","data":2}})");
  EXPECT_EQ(r.status, 200) << r.body;
  for (NodePeer* peer : {&ann2, &bob})
    EXPECT_TRUE(peer->wait_for(Event("marker2", "presence-room"))) << peer->name();
  EXPECT_EQ(bob.count(frame("pusher_internal:member_removed")), 0u) << bob.output();
  EXPECT_EQ(Users(RestGet("/channels/presence-room/users")), R"([{"id":"1"},{"id":"2"}])");
  ASSERT_TRUE(bob.run({{"op", "members"}, {"channel", "presence-room"}}));
  EXPECT_TRUE(bob.wait_for([](const Line& l) {
    return str(l.if_contains("members")) == "presence-room" &&
           str(l.if_contains("ids")) == R"(["1","2"])";
  }));

  // Her last socket leaves: now Bob hears it, once.
  ASSERT_TRUE(ann2.run({{"op", "disconnect"}}));
  const auto removed = bob.wait_for(has_key("member_removed"), 10s);
  ASSERT_TRUE(removed) << bob.output();
  EXPECT_EQ(json::serialize(*removed), R"({"member_removed":"presence-room","id":"1"})");
  const auto removed_frame = bob.wait_for(frame("pusher_internal:member_removed", "presence-room"));
  ASSERT_TRUE(removed_frame);
  EXPECT_EQ(json::serialize(FrameData(*removed_frame)), R"({"user_id":"1"})");
  ASSERT_TRUE(bob.run({{"op", "members"}, {"channel", "presence-room"}}));
  EXPECT_TRUE(bob.wait_for([](const Line& l) {
    return str(l.if_contains("members")) == "presence-room" &&
           str(l.if_contains("ids")) == R"(["2"])";
  })) << bob.output();
  EXPECT_EQ(bob.count(frame("pusher_internal:member_removed")), 1u) << bob.output();
  EXPECT_EQ(Users(RestGet("/channels/presence-room/users")), R"([{"id":"2"}])");
}

// ---- 5. client events -----------------------------------------------------------------------

TEST_F(WebsocketChannels, ClientEventsOnAPrivateChannelReachTheOthersOnly) {
  StartServer();
  NodePeer& sender = Subscribed("sender", {"private-room", "order.1"});
  NodePeer& receiver = Subscribed("receiver", {"private-room"});

  ASSERT_TRUE(sender.run({{"op", "trigger"},
                          {"channel", "private-room"},
                          {"event", "client-typing"},
                          {"data", {{"typing", true}}}}));
  const auto triggered = sender.wait_for(has("triggered", "private-room"));
  ASSERT_TRUE(triggered);
  EXPECT_EQ(str(triggered->if_contains("ok")), "true") << sender.output();
  const auto got = receiver.wait_for(Event("client-typing", "private-room"));
  ASSERT_TRUE(got) << receiver.output();
  EXPECT_EQ(json::serialize(got->at("data")), R"({"typing":true})");
  const auto got_frame = receiver.wait_for(frame("client-typing", "private-room"));
  ASSERT_TRUE(got_frame);
  EXPECT_FALSE(got_frame->at("frame").as_object().contains("user_id"))
      << json::serialize(*got_frame);

  // Not back to the sender: a server event after it arrives, the client event did not.
  const auto r = ApiPublish(R"({"topic":"private-room","message":{"event":"marker","data":1}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(sender.wait_for(Event("marker", "private-room")));
  EXPECT_EQ(sender.count(frame("client-typing")), 0u) << sender.output();

  // On a public channel a client event is refused with pusher:error 4301.
  const size_t from = sender.mark();
  ASSERT_TRUE(sender.run({{"op", "trigger"},
                          {"channel", "order.1"},
                          {"event", "client-typing"},
                          {"data", {{"typing", true}}}}));
  const auto error = sender.wait_for(frame("pusher:error"), 10s, from);
  ASSERT_TRUE(error) << sender.output();
  EXPECT_EQ(str(FrameData(*error).if_contains("code")), "4301") << json::serialize(*error);
}

TEST_F(WebsocketChannels, ClientEventsOnPresenceCarryTheSendersUserId) {
  StartServer();
  NodePeer& ann1 = Subscribed("ann1", {"presence-room"}, UserHeaders(kUser1));
  NodePeer& ann2 = Subscribed("ann2", {"presence-room"}, UserHeaders(kUser1));
  NodePeer& bob = Subscribed("bob", {"presence-room"}, UserHeaders(kUser2));

  ASSERT_TRUE(bob.run({{"op", "trigger"},
                       {"channel", "presence-room"},
                       {"event", "client-typing"},
                       {"data", {{"who", "Bob"}}}}));
  for (NodePeer* peer : {&ann1, &ann2}) {
    const auto got = peer->wait_for(frame("client-typing", "presence-room"));
    ASSERT_TRUE(got) << peer->name() << "\n" << peer->output();
    EXPECT_EQ(str(got->at("frame").as_object().if_contains("user_id")), "2")
        << json::serialize(*got);
    EXPECT_EQ(json::serialize(FrameData(*got)), R"({"who":"Bob"})");
  }
  // Ann's first socket: her other socket and Bob get it, she does not.
  ASSERT_TRUE(ann1.run({{"op", "trigger"},
                        {"channel", "presence-room"},
                        {"event", "client-typing"},
                        {"data", {{"who", "Ann"}}}}));
  for (NodePeer* peer : {&ann2, &bob}) {
    const auto got = peer->wait_for([](const Line& l) {
      return is_frame(l, "client-typing", "presence-room") &&
             str(l.at("frame").as_object().if_contains("user_id")) == "1";
    });
    ASSERT_TRUE(got) << peer->name() << "\n" << peer->output();
    EXPECT_EQ(json::serialize(FrameData(*got)), R"({"who":"Ann"})");
  }
  const auto r = ApiPublish(R"({"topic":"presence-room","message":{"event":"marker","data":1}})");
  EXPECT_EQ(r.status, 200) << r.body;
  for (NodePeer* peer : {&ann1, &ann2, &bob})
    EXPECT_TRUE(peer->wait_for(Event("marker", "presence-room"))) << peer->name();
  EXPECT_EQ(ann1.count(frame("client-typing")), 1u) << ann1.output();  // Bob's only
  EXPECT_EQ(ann2.count(frame("client-typing")), 2u) << ann2.output();
  EXPECT_EQ(bob.count(frame("client-typing")), 1u) << bob.output();  // Ann's only
}

// ---- 6. the HTTP API ------------------------------------------------------------------------

TEST_F(WebsocketChannels, RestChannelQueries) {
  StartServer();
  Subscribed("a", {"order.1", "private-room"});
  Subscribed("b", {"order.1"});

  EXPECT_EQ(RestGet("/channels/order.1", {{"info", "subscription_count"}}),
            Parse(R"({"occupied":true,"subscription_count":2})"));
  EXPECT_EQ(RestGet("/channels/private-room", {{"info", "subscription_count"}}),
            Parse(R"({"occupied":true,"subscription_count":1})"));
  EXPECT_EQ(RestGet("/channels/order.2"), Parse(R"({"occupied":false})"));
  EXPECT_EQ(RestGet("/channels", {{"info", "subscription_count"}}),
            Parse(R"({"channels":{"order.1":{"subscription_count":2},
                                  "private-room":{"subscription_count":1}}})"));
  EXPECT_EQ(RestGet("/channels"), Parse(R"({"channels":{"order.1":{},"private-room":{}}})"));
  EXPECT_EQ(RestGet("/channels", {{"filter_by_prefix", "private-"}}),
            Parse(R"({"channels":{"private-room":{}}})"));

  // users is for presence channels only.
  const json::object users = RestOne({{"op", "get"}, {"path", "/channels/order.1/users"}});
  EXPECT_EQ(str(users.if_contains("status")), "400") << json::serialize(users);
}

TEST_F(WebsocketChannels, RestRefusesBadSignaturesAndOtherApps) {
  StartServer();
  NodePeer& client = Subscribed("client", {"order.1"});
  const json::object trigger{{"op", "trigger"},
                             {"channels", json::array{"order.1"}},
                             {"event", "nope"},
                             {"data", {{"n", 1}}}};
  const json::object get{{"op", "get"}, {"path", "/channels"}};

  auto results = Rest({trigger, get}, {{"secret", "wrong-secret"}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results)
    EXPECT_EQ(str(r.as_object().if_contains("status")), "401") << json::serialize(r);
  results = Rest({trigger, get}, {{"key", "other-key"}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results)
    EXPECT_EQ(str(r.as_object().if_contains("status")), "401") << json::serialize(r);
  results = Rest({trigger, get}, {{"app_id", "other-app"}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results)
    EXPECT_EQ(str(r.as_object().if_contains("status")), "404") << json::serialize(r);

  // None of the refused triggers reached the client; a good one does, with `info` answered.
  json::object good = trigger;
  good["event"] = "good";
  good["params"] = {{"info", "subscription_count"}};
  const json::object reply = RestOne(good);
  EXPECT_EQ(str(reply.if_contains("status")), "200") << json::serialize(reply);
  const auto* body = reply.if_contains("body");
  ASSERT_TRUE(body && body->is_object()) << json::serialize(reply);
  EXPECT_EQ(body->as_object(), Parse(R"({"channels":{"order.1":{"subscription_count":1}}})"));
  EXPECT_TRUE(client.wait_for(Event("good", "order.1")));
  EXPECT_EQ(client.count(Event("nope", "order.1")), 0u) << client.output();
}

// ---- protocol basics, as a raw client sees them -----------------------------------------------

TEST_F(WebsocketChannels, RawProtocolBasics) {
  StartServer();
  NodePeer& raw = Raw("raw");
  const auto established = raw.wait_for(frame("pusher:connection_established"), 15s);
  ASSERT_TRUE(established) << raw.output();
  {
    const json::object data = FrameData(*established);
    EXPECT_TRUE(std::regex_match(str(data.if_contains("socket_id")), std::regex(R"(\d+\.\d+)")))
        << json::serialize(*established);
    EXPECT_EQ(str(data.if_contains("activity_timeout")), "30") << json::serialize(*established);
    EXPECT_TRUE(established->at("frame").as_object().contains("data_was_string"))
        << "protocol 7 sends data as a JSON string: " << json::serialize(*established);
  }

  const auto answer = [&](const json::object& command) -> std::optional<Line> {
    const size_t from = raw.mark();
    raw.send(command);
    return raw.wait_for([](const Line& l) { return l.contains("frame") || l.contains("close"); },
                        10s, from);
  };

  auto a = answer({{"op", "send"}, {"json", {{"event", "pusher:ping"}, {"data", json::object{}}}}});
  ASSERT_TRUE(a) << raw.output();
  EXPECT_TRUE(is_frame(*a, "pusher:pong")) << json::serialize(*a);

  for (const char* bad : {"not json", "[1,2]", R"({"event":"pusher:nonsense","data":{}})"}) {
    a = answer({{"op", "send"}, {"text", bad}});
    ASSERT_TRUE(a) << bad << "\n" << raw.output();
    EXPECT_TRUE(is_frame(*a, "pusher:error")) << bad << ": " << json::serialize(*a);
    if (is_frame(*a, "pusher:error")) {
      EXPECT_EQ(str(FrameData(*a).if_contains("code")), "4200")
          << bad << ": " << json::serialize(*a);
    }
  }
  a = answer({{"op", "binary"}, {"bytes", json::array{1, 2, 3}}});
  ASSERT_TRUE(a) << raw.output();
  EXPECT_TRUE(is_frame(*a, "pusher:error")) << "binary: " << json::serialize(*a);

  // Subscribing twice: succeeded both times.
  for (int i = 0; i < 2; ++i) {
    a = answer({{"op", "send"},
                {"json", {{"event", "pusher:subscribe"}, {"data", {{"channel", "order.1"}}}}}});
    ASSERT_TRUE(a) << raw.output();
    EXPECT_TRUE(is_frame(*a, "pusher_internal:subscription_succeeded", "order.1"))
        << json::serialize(*a);
  }
  EXPECT_EQ(str(RestGet("/channels/order.1", {{"info", "subscription_count"}})
                    .if_contains("subscription_count")),
            "1");
  // A bad channel name.
  a = answer({{"op", "send"},
              {"json", {{"event", "pusher:subscribe"}, {"data", {{"channel", "bad channel!"}}}}}});
  ASSERT_TRUE(a) << raw.output();
  EXPECT_TRUE(is_frame(*a, "pusher:subscription_error")) << json::serialize(*a);
  EXPECT_EQ(str(FrameData(*a).if_contains("type")), "LimitReached") << json::serialize(*a);
  EXPECT_EQ(str(FrameData(*a).if_contains("status")), "4009") << json::serialize(*a);

  // Still open after all that.
  a = answer({{"op", "send"}, {"json", {{"event", "pusher:ping"}, {"data", json::object{}}}}});
  ASSERT_TRUE(a) << raw.output();
  EXPECT_TRUE(is_frame(*a, "pusher:pong")) << json::serialize(*a);

  // An unknown app key: pusher:error 4001, then close 4001.
  NodePeer& stranger = Raw("stranger", WsUrl("no-such-key"));
  const auto refused = stranger.wait_for(frame("pusher:error"), 15s);
  ASSERT_TRUE(refused) << stranger.output();
  EXPECT_EQ(str(FrameData(*refused).if_contains("code")), "4001") << json::serialize(*refused);
  const auto closed = stranger.wait_for(has_key("close"), 10s);
  ASSERT_TRUE(closed) << stranger.output();
  EXPECT_EQ(str(closed->if_contains("close")), "4001") << json::serialize(*closed);

  // SIGTERM of herald serve: close 4200 (reconnect), and a clean exit.
  EXPECT_EQ(server_->process().stop(), 0) << server_->log();
  const auto bye = raw.wait_for(has_key("close"), 10s);
  ASSERT_TRUE(bye) << raw.output();
  EXPECT_EQ(str(bye->if_contains("close")), "4200") << json::serialize(*bye);
}

}  // namespace
}  // namespace herald
