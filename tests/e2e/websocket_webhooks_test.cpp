// Pusher webhooks of the `websocket` driver end to end (plugins/websocket/README.md "Webhooks"):
// the real `herald serve`, pusher-js clients that subscribe, unsubscribe, join presence channels
// and trigger client events, and Node receivers (tests/e2e/js/webhook_receiver.js) that check
// every request's X-Pusher-Key and X-Pusher-Signature on their own with Node's crypto.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ws_e2e.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace testing_support::ws_e2e;
using testing_support::free_tcp_port;

const char kUser1[] = R"({"id":"1","info":{"name":"Ann"}})";
const char kUser2[] = R"({"id":"2","info":{"name":"Bob"}})";

json::object UserHeaders(const char* user) { return {{"headers", {{"X-Herald-User", user}}}}; }

// The `webhook` object of a receiver line that was answered 200 (or {}).
json::object Hook(const Line& line) {
  const auto* w = line.if_contains("webhook");
  return w != nullptr && w->is_object() ? w->as_object() : json::object{};
}

// A delivered (answered 200) webhook event `name` on `channel`.
Predicate Delivered(const std::string& name, const std::string& channel,
                    const std::string& user_id = {}) {
  return [=](const Line& line) {
    const json::object w = Hook(line);
    return str(line.if_contains("status")) == "200" && str(w.if_contains("name")) == name &&
           str(w.if_contains("channel")) == channel &&
           (user_id.empty() || str(w.if_contains("user_id")) == user_id);
  };
}

// Index of the first line matching `match` (lines.size() when none).
size_t IndexOf(const std::vector<Line>& lines, const Predicate& match) {
  return static_cast<size_t>(std::find_if(lines.begin(), lines.end(), match) - lines.begin());
}

// The value of a Prometheus sample `name{connection="websocket"}` in `text`, or -1.
long long Sample(const std::string& text, const std::string& name) {
  const std::string key = name + "{connection=\"websocket\"} ";
  const auto at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

class WebsocketWebhooks : public WsE2ETest {
 protected:
  // A receiver on a free port; `options` may set fail_first, fail_status, hang.
  NodePeer& Receiver(const std::string& name, json::object options = {}) {
    options["port"] = free_tcp_port();
    options["key"] = kAppKey;
    options["secret"] = kAppSecret;
    peers_.push_back(std::make_unique<NodePeer>(node_, kScripts / "webhook_receiver.js", dir_,
                                                name, std::move(options)));
    NodePeer& peer = *peers_.back();
    EXPECT_TRUE(peer.wait_for(has_key("listening"), 15s)) << name << " did not start";
    return peer;
  }
  static std::string Url(NodePeer& receiver, const std::string& path = "/hook") {
    const auto line = receiver.wait_for(has_key("listening"), 15s);
    return "http://127.0.0.1:" + (line ? str(line->if_contains("listening")) : "0") + path;
  }
  // Every request a receiver got was signed with the app secret and carried the app key.
  static void ExpectAllSigned(NodePeer& receiver) {
    const auto requests = receiver.all(has_key("method"));
    EXPECT_FALSE(requests.empty()) << receiver.name();
    for (const auto& r : requests) {
      EXPECT_EQ(str(r.if_contains("valid")), "true") << receiver.name() << json::serialize(r);
      EXPECT_EQ(str(r.if_contains("key_ok")), "true") << receiver.name() << json::serialize(r);
      EXPECT_EQ(str(r.if_contains("content_type")), "application/json") << json::serialize(r);
      EXPECT_EQ(str(r.if_contains("method")), "POST") << json::serialize(r);
      EXPECT_EQ(str(r.if_contains("path")), "/hook") << json::serialize(r);
    }
    EXPECT_EQ(receiver.count(has_key("bad_body")), 0u) << receiver.output();
  }
  std::string Metrics() { return server_->get("/metrics").body; }
};

TEST_F(WebsocketWebhooks, OccupiedVacatedMembersAndClientEventsArriveSigned) {
  NodePeer& all = Receiver("all");
  NodePeer& members = Receiver("members");
  StartServer("webhooks = [{ url = \"" + Url(all) + "\" },\n  { url = \"" + Url(members) +
              "\", events = [\"member_added\", \"member_removed\"] }]\n");

  // Ann: a presence channel (occupied, then her membership) and a private one.
  NodePeer& ann = Subscribed("ann", {"presence-room", "private-room"}, UserHeaders(kUser1));
  const std::string ann_socket = SocketId(ann);
  ASSERT_TRUE(all.wait_for(Delivered("member_added", "presence-room", "1"), 10s)) << all.output();
  ASSERT_TRUE(all.wait_for(Delivered("channel_occupied", "private-room"), 10s)) << all.output();
  {
    const auto lines = all.lines();
    const size_t occupied = IndexOf(lines, Delivered("channel_occupied", "presence-room"));
    ASSERT_LT(occupied, lines.size()) << all.output();
    EXPECT_EQ(Hook(lines[occupied]), json::parse(R"({"name":"channel_occupied",
              "channel":"presence-room"})").as_object());
    EXPECT_LT(occupied, IndexOf(lines, Delivered("member_added", "presence-room", "1")))
        << "occupied comes before the member it brings\n" << all.output();
    EXPECT_EQ(Hook(lines[IndexOf(lines, Delivered("member_added", "presence-room", "1"))]),
              json::parse(R"({"name":"member_added","channel":"presence-room","user_id":"1"})")
                  .as_object());
  }

  // Bob joins: a member, no second occupation. His client event carries his user_id.
  NodePeer& bob = Subscribed("bob", {"presence-room", "private-room"}, UserHeaders(kUser2));
  const std::string bob_socket = SocketId(bob);
  ASSERT_TRUE(all.wait_for(Delivered("member_added", "presence-room", "2"), 10s)) << all.output();
  ASSERT_TRUE(bob.run({{"op", "trigger"},
                       {"channel", "presence-room"},
                       {"event", "client-typing"},
                       {"data", {{"who", "Bob"}}}}));
  ASSERT_TRUE(ann.wait_for(frame("client-typing", "presence-room")));  // relayed as before
  const auto presence_event = all.wait_for(Delivered("client_event", "presence-room"), 10s);
  ASSERT_TRUE(presence_event) << all.output();
  EXPECT_EQ(Hook(*presence_event),
            (json::object{{"name", "client_event"},
                          {"channel", "presence-room"},
                          {"event", "client-typing"},
                          {"data", R"({"who":"Bob"})"},
                          {"socket_id", bob_socket},
                          {"user_id", "2"}}));
  // On a private channel: no user_id.
  ASSERT_TRUE(ann.run({{"op", "trigger"},
                       {"channel", "private-room"},
                       {"event", "client-note"},
                       {"data", "plain text"}}));
  const auto private_event = all.wait_for(Delivered("client_event", "private-room"), 10s);
  ASSERT_TRUE(private_event) << all.output();
  EXPECT_EQ(Hook(*private_event), (json::object{{"name", "client_event"},
                                                {"channel", "private-room"},
                                                {"event", "client-note"},
                                                {"data", "plain text"},
                                                {"socket_id", ann_socket}}));

  // Bob leaves the presence channel; then Ann disconnects: the channels are vacated, after
  // the last member's removal.
  ASSERT_TRUE(bob.run({{"op", "unsubscribe"}, {"channel", "presence-room"}}));
  ASSERT_TRUE(all.wait_for(Delivered("member_removed", "presence-room", "2"), 10s))
      << all.output();
  EXPECT_EQ(all.count(Delivered("channel_vacated", "presence-room")), 0u) << all.output();
  ASSERT_TRUE(bob.run({{"op", "disconnect"}}));
  ASSERT_TRUE(ann.run({{"op", "disconnect"}}));
  ASSERT_TRUE(all.wait_for(Delivered("channel_vacated", "presence-room"), 10s)) << all.output();
  ASSERT_TRUE(all.wait_for(Delivered("channel_vacated", "private-room"), 10s)) << all.output();
  {
    const auto lines = all.lines();
    const size_t removed = IndexOf(lines, Delivered("member_removed", "presence-room", "1"));
    ASSERT_LT(removed, lines.size()) << all.output();
    EXPECT_LT(removed, IndexOf(lines, Delivered("channel_vacated", "presence-room")));
    EXPECT_EQ(Hook(lines[IndexOf(lines, Delivered("channel_vacated", "presence-room"))]),
              json::parse(R"({"name":"channel_vacated","channel":"presence-room"})").as_object());
  }
  std::this_thread::sleep_for(300ms);  // anything extra would have arrived by now
  EXPECT_EQ(all.count(Delivered("channel_occupied", "presence-room")), 1u) << all.output();
  EXPECT_EQ(all.count(Delivered("channel_vacated", "presence-room")), 1u) << all.output();
  EXPECT_EQ(all.count(Delivered("member_added", "presence-room")), 2u) << all.output();
  EXPECT_EQ(all.count(Delivered("client_event", "presence-room")), 1u) << all.output();
  ExpectAllSigned(all);

  // The filtered target got its two kinds only, signed as well.
  ASSERT_TRUE(members.wait_for(Delivered("member_removed", "presence-room", "1"), 10s))
      << members.output();
  std::multiset<std::string> names;
  for (const auto& line : members.all(has_key("webhook")))
    names.insert(str(Hook(line).if_contains("name")));
  EXPECT_EQ(names, (std::multiset<std::string>{"member_added", "member_added", "member_removed",
                                               "member_removed"}))
      << members.output();
  ExpectAllSigned(members);

  // Counted in GET /metrics; the secret is in no log line.
  const std::string metrics = Metrics();
  EXPECT_GT(Sample(metrics, "herald_ws_webhook_events_total"), 10) << metrics;
  EXPECT_GE(Sample(metrics, "herald_ws_webhook_sent_total"), 2) << metrics;
  EXPECT_EQ(Sample(metrics, "herald_ws_webhook_failed_total"), 0) << metrics;
  EXPECT_EQ(Sample(metrics, "herald_ws_webhook_dropped_total"), 0) << metrics;
  EXPECT_THAT(server_->log(), Not(HasSubstr(kAppSecret)));
}

TEST_F(WebsocketWebhooks, AReceiverAnswering500IsRetriedUntilItTakesTheBatch) {
  NodePeer& flaky = Receiver("flaky", {{"fail_first", 3}});
  StartServer("webhooks = [{ url = \"" + Url(flaky) + "\" }]\n");
  Subscribed("sub", {"private-room"});
  const auto delivered = flaky.wait_for(Delivered("channel_occupied", "private-room"), 15s);
  ASSERT_TRUE(delivered) << flaky.output();
  EXPECT_EQ(str(delivered->if_contains("request")), "4") << flaky.output();
  // The same batch each time: same body, same signature, every one of them valid.
  const auto requests = flaky.all(has_key("method"));
  ASSERT_EQ(requests.size(), 4u) << flaky.output();
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(str(requests[i].if_contains("status")), i < 3 ? "500" : "200");
    EXPECT_EQ(str(requests[i].if_contains("signature")), str(requests[0].if_contains("signature")));
    EXPECT_EQ(str(requests[i].if_contains("time_ms")), str(requests[0].if_contains("time_ms")));
  }
  ExpectAllSigned(flaky);
  const std::string metrics = Metrics();
  EXPECT_EQ(Sample(metrics, "herald_ws_webhook_sent_total"), 1) << metrics;
  EXPECT_EQ(Sample(metrics, "herald_ws_webhook_failed_total"), 0) << metrics;
}

TEST_F(WebsocketWebhooks, ReceiversThatAreDownOrStuckDoNotHoldUpSubscribers) {
  NodePeer& stuck = Receiver("stuck", {{"hang", true}});
  const std::uint16_t down_port = free_tcp_port();  // nobody listens there
  StartServer("webhooks = [{ url = \"" + Url(stuck) + "\" },\n  { url = \"http://127.0.0.1:" +
              std::to_string(down_port) +
              "/hook\" }]\nwebhook_timeout_ms = 500\nwebhook_retry_s = 1\n");
  NodePeer& a = Subscribed("a", {"private-room"});
  NodePeer& b = Subscribed("b", {"private-room"});
  ASSERT_TRUE(stuck.wait_for(has_key("method"), 10s)) << stuck.output();  // it is stuck now
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::string marker = "m" + std::to_string(i);
    const auto r = ApiPublish(R"({"topic":"private-room","message":{"event":")" + marker +
                              R"(","data":1}})");
    EXPECT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(a.run({{"op", "trigger"},
                       {"channel", "private-room"},
                       {"event", "client-" + marker},
                       {"data", {{"i", i}}}}));
    for (NodePeer* peer : {&a, &b})
      EXPECT_TRUE(peer->wait_for(frame(marker, "private-room"), 3s)) << peer->name();
    EXPECT_TRUE(b.wait_for(frame("client-" + marker, "private-room"), 3s)) << b.output();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "round " << i;
  }
  // The batches are given up after webhook_retry_s, counted and logged without the secret.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  std::string metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = Metrics();
    if (Sample(metrics, "herald_ws_webhook_failed_total") >= 2) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(Sample(metrics, "herald_ws_webhook_failed_total"), 2) << metrics;
  EXPECT_EQ(Sample(metrics, "herald_ws_webhook_sent_total"), 0) << metrics;
  EXPECT_THAT(server_->log(), HasSubstr("webhooks: gave up a batch"));
  EXPECT_THAT(server_->log(), Not(HasSubstr(kAppSecret)));
}

TEST_F(WebsocketWebhooks, HeraldCheckRefusesBadWebhooks) {
  struct Case {
    std::string extra, expected;
  };
  const std::vector<Case> cases = {
      {"webhooks = []\n", "`webhooks` is empty"},
      {"webhooks = [{ url = \"ftp://example.com/\" }]\n",
       "`webhooks`[0].url `ftp://example.com/` must start with http:// or https://"},
      {"webhooks = [{ url = \"http://127.0.0.1:9/\", events = [\"channel_created\"] }]\n",
       "`webhooks`[0].events has an unknown event `channel_created`"},
      {"webhooks = [{ url = \"http://127.0.0.1:9/\", events = [] }]\n",
       "`webhooks`[0].events is empty"},
      {"webhooks = [{ url = \"http://127.0.0.1:9/\" }]\nwebhook_queue = 0\n",
       "`webhook_queue` is 0"},
  };
  for (const auto& c : cases) {
    WriteConfig(c.extra);
    const auto r = Herald({"check"});
    EXPECT_EQ(r.exit_code, 2) << c.extra << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.expected)) << c.extra;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.out + r.err, Not(HasSubstr(kAppSecret)));
  }
  WriteConfig("[[connections.websocket.webhooks]]\nurl = \"https://hooks.example/pusher\"\n"
              "events = [\"channel_occupied\", \"channel_vacated\"]\n");
  const auto ok = Herald({"check"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
}

}  // namespace
}  // namespace herald
