// The `websocket` driver end to end: pusher-js 8 (npm, its Node build) subscribed to a public
// channel of the real `herald serve` receives what every kind of publisher sends - POST
// /api/publish, a one-shot `herald publish` (which publishes through the running server's signed
// REST API), the official npm `pusher` server library (trigger, triggerBatch, socket_id
// exclusion) and Herald's own `pusher` driver pointed at the websocket connection. A one-shot
// publish with no server running fails with exit 1 and a clear message.
// Spec: plugins/websocket/README.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ws_e2e.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace testing_support::ws_e2e;

class WebsocketPublish : public WsE2ETest {};

// A pusher-js `event` line for `event` on `channel`.
Predicate Event(const std::string& event, const std::string& channel = "order.1") {
  return [event, channel](const Line& line) {
    return str(line.if_contains("event")) == event && str(line.if_contains("channel")) == channel;
  };
}

// "event data" for each event pusher-js delivered on `channel`, in order.
std::vector<std::string> Events(const NodePeer& peer, const std::string& channel = "order.1") {
  std::vector<std::string> out;
  for (const auto& line : peer.all(has("channel", channel)))
    if (line.contains("event"))
      out.push_back(str(line.if_contains("event")) + " " + json::serialize(line.at("data")));
  return out;
}

TEST_F(WebsocketPublish, ApiPublishAndOneShotCliReachPusherJs) {
  StartServer();
  NodePeer& client = Subscribed("client", {"order.1"});

  // POST /api/publish: the default event `message`, the message as data.
  auto r = ApiPublish(R"({"topic":"order.1","message":{"status":"purchased"}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"published":1})")) << r.body;
  EXPECT_TRUE(client.wait_for(Event("message")));

  // An envelope chooses the event; a plain string is the data as is.
  r = ApiPublish(
      R"({"topic":"order.1","messages":[{"event":"OrderShipped","data":{"id":42}},"plain text"]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"published":2})")) << r.body;
  EXPECT_TRUE(client.wait_for(Event("OrderShipped")));

  // A one-shot `herald publish` on the same config (no --server): the driver publishes through
  // the running server's REST API instead of starting a second, empty server.
  const auto cli = Herald({"publish", "order.1", "-m", R"({"status":"purchased","via":"cli"})"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_EQ(cli.err, "");
  EXPECT_TRUE(client.wait_for(
      [](const Line& l) { return str(l.if_contains("data")).find("cli") != std::string::npos; }));

  EXPECT_THAT(Events(client), ElementsAre(R"(message {"status":"purchased"})",
                                          R"(OrderShipped {"id":42})", R"(message "plain text")",
                                          R"(message {"status":"purchased","via":"cli"})"));
  // The wire form pusher-js decoded: data travels as a JSON string, as protocol 7 says.
  const auto frame_line = client.wait_for(frame("OrderShipped", "order.1"));
  ASSERT_TRUE(frame_line);
  EXPECT_EQ(json::serialize(frame_line->at("frame").at("data")), R"({"id":42})");
}

TEST_F(WebsocketPublish, NpmPusherLibraryTriggerBatchAndSocketExclusion) {
  StartServer();
  NodePeer& first = Subscribed("first", {"order.1"});
  NodePeer& second = Subscribed("second", {"order.1"});
  const std::string second_id = SocketId(second);
  ASSERT_FALSE(second_id.empty());

  json::array ops;
  ops.push_back({{"op", "trigger"},
                 {"channels", json::array{"order.1"}},
                 {"event", "OrderPaid"},
                 {"data", {{"id", 1}}}});
  ops.push_back(
      {{"op", "triggerBatch"},
       {"batch",
        json::array{json::object{{"channel", "order.1"}, {"name", "batch-1"}, {"data", {{"n", 1}}}},
                    json::object{{"channel", "order.1"}, {"name", "batch-2"}, {"data", "two"}}}}});
  // Excluding the second client's socket: only the first one gets it.
  ops.push_back({{"op", "trigger"},
                 {"channels", json::array{"order.1"}},
                 {"event", "excluded"},
                 {"data", {{"n", 3}}},
                 {"params", {{"socket_id", second_id}}}});
  ops.push_back({{"op", "trigger"},
                 {"channels", json::array{"order.1"}},
                 {"event", "after"},
                 {"data", {{"n", 4}}}});
  const json::array results = Rest(ops);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& result : results)
    EXPECT_EQ(json::serialize(result), R"({"status":200,"body":{}})");

  EXPECT_TRUE(first.wait_for(Event("after")));
  EXPECT_TRUE(second.wait_for(Event("after")));
  EXPECT_THAT(Events(first),
              ElementsAre(R"(OrderPaid {"id":1})", R"(batch-1 {"n":1})", R"(batch-2 "two")",
                          R"(excluded {"n":3})", R"(after {"n":4})"));
  // Events of one socket arrive in order, so `after` without `excluded` means it was excluded.
  EXPECT_THAT(Events(second), ElementsAre(R"(OrderPaid {"id":1})", R"(batch-1 {"n":1})",
                                          R"(batch-2 "two")", R"(after {"n":4})"));
}

TEST_F(WebsocketPublish, HeraldsOwnPusherDriverPublishesIntoIt) {
  StartServer();
  NodePeer& client = Subscribed("client", {"order.1"});

  // One-shot, through the `pusher` driver (`[connections.to_ws]`, scheme http, the ws port).
  const auto cli = Herald({"publish", "-c", "to_ws", "order.1", "-m", R"({"via":"pusher-cli"})",
                           "-m", R"({"event":"OrderShipped","data":{"id":7}})"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_EQ(cli.err, "");
  EXPECT_TRUE(client.wait_for(Event("OrderShipped")));

  // The running server's `to_ws` connection.
  const auto r =
      ApiPublish(R"({"topic":"order.1","connection":"to_ws","message":{"via":"pusher-api"}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"published":1})")) << r.body;
  EXPECT_TRUE(client.wait_for([](const Line& l) {
    return str(l.if_contains("data")).find("pusher-api") != std::string::npos;
  }));

  EXPECT_THAT(Events(client),
              ElementsAre(R"(message {"via":"pusher-cli"})", R"(OrderShipped {"id":7})",
                          R"(message {"via":"pusher-api"})"));
}

TEST_F(WebsocketPublish, OneShotPublishWithoutARunningServerFails) {
  WriteConfig();
  const auto r = Herald({"publish", "order.1", "-m", R"({"status":"purchased"})"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("no herald is listening on 127.0.0.1:" + std::to_string(ws_port_)));
  // One line on stderr, and the one-shot process did not leave a listener behind.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(testing_support::tcp_port_open(ws_port_));
}

}  // namespace
}  // namespace herald
