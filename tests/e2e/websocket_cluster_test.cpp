// Several `herald serve` nodes as one Pusher server over a real redis-server (the websocket
// driver's `bus`, plugins/websocket/README.md "Several nodes"): events published on any node
// through POST /api/publish, the Pusher REST API (npm `pusher`) and `herald publish` reach
// pusher-js clients on every node; socket exclusion holds across nodes; presence is one member
// per user for the cluster and a killed node's members go within the node timeout; REST channel
// queries answer for the cluster; a Redis restart loses nothing published once the bus is back;
// prefixes keep apps on one Redis apart.
#include <signal.h>

#include "redis_server.hpp"
#include "ws_e2e.hpp"

namespace herald::testing_support::ws_e2e {
namespace {

const char kUser1[] = R"({"id":"1","info":{"name":"Ann"}})";
const char kUser2[] = R"({"id":"2","info":{"name":"Bob"}})";
json::object UserHeaders(const char* user) { return {{"headers", {{"X-Herald-User", user}}}}; }

// Fast heartbeats so a dead node is noticed within ~1.5 s in these tests.
constexpr int kHeartbeatMs = 250;
constexpr int kNodeTimeoutMs = 1500;

Predicate Event(const std::string& event, const std::string& channel) {
  return [event, channel](const Line& line) {
    return str(line.if_contains("event")) == event && str(line.if_contains("channel")) == channel;
  };
}
Predicate EventData(const std::string& event, const std::string& data) {
  return [event, data](const Line& line) {
    return str(line.if_contains("event")) == event && str(line.if_contains("data")) == data;
  };
}

class WebsocketCluster : public WsE2ETest {
 protected:
  struct Node {
    std::unique_ptr<TempDir> dir;
    std::uint16_t ws_port = 0;
    std::unique_ptr<HeraldServer> server;
  };

  void SetUp() override {
    WsE2ETest::SetUp();
    if (HasFatalFailure()) return;
    redis_.start();
  }

  void TearDown() override {
    if (HasFailure())
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].server)
          std::cerr << "----- node " << i << " log:\n" << tail(nodes_[i].server->log()) << "\n";
    WsE2ETest::TearDown();
  }

  std::string BusSettings(const std::string& prefix) const {
    return "bus = \"" + redis_.url() + "\"\n" + (prefix.empty() ? "" : "bus_prefix = \"" + prefix + "\"\n") +
           "bus_heartbeat_ms = " + std::to_string(kHeartbeatMs) +
           "\nbus_node_timeout_ms = " + std::to_string(kNodeTimeoutMs) + "\n";
  }

  // Starts node i (0, 1, ...) and waits until its bus is up (GET /healthz 200).
  Node& StartNode(const std::string& prefix = {}, const std::string& extra = {}) {
    Node node;
    node.dir = std::make_unique<TempDir>("herald-cluster-node");
    node.ws_port = free_tcp_port();
    ws_port_ = node.ws_port;
    HeraldServer::Options options;
    options.extra_args = {"--log-level", "debug"};
    node.server = std::make_unique<HeraldServer>(*node.dir, Config(BusSettings(prefix) + extra),
                                                 std::move(options));
    node.server->process().wait_for_port(node.ws_port, 20s);
    nodes_.push_back(std::move(node));
    EXPECT_TRUE(Healthy(nodes_.size() - 1)) << "node " << nodes_.size() - 1 << " bus not up";
    return nodes_.back();
  }

  bool Healthy(std::size_t i, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (nodes_[i].server->get("/healthz").status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Points the WsE2ETest helpers (PusherJs, Rest, ApiPublish, Herald) at node i.
  void Use(std::size_t i) {
    ws_port_ = nodes_[i].ws_port;
    server_.release();  // not owned: nodes_ owns it
    server_.reset(nodes_[i].server.get());
    current_ = i;
  }

  NodePeer& ClientOn(std::size_t node, const std::string& name,
                     const std::vector<std::string>& channels, json::object options = {}) {
    Use(node);
    return Subscribed(name, channels, std::move(options));
  }

  HttpReply PublishOn(std::size_t node, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    Headers headers{{"Authorization", std::string("Bearer ") + kApiKey},
                    {"Content-Type", "application/json"}};
    for (const auto& h : extra) headers.push_back(h);
    return nodes_[node].server->post("/api/publish", body, headers);
  }

  // `herald publish` with node i's config file.
  cli_test::ProcessResult HeraldOn(std::size_t i, const std::vector<std::string>& args) {
    std::vector<std::string> full{"--config", (nodes_[i].dir->path() / "broadcasting.toml").string()};
    full.insert(full.end(), args.begin(), args.end());
    cli_test::RunOptions options;
    options.cwd = nodes_[i].dir->path();
    options.timeout = 30s;
    return cli_test::RunProcess(kHeraldBinary, full, options);
  }

  ~WebsocketCluster() override { server_.release(); }

  RedisServer redis_;
  std::vector<Node> nodes_;
  std::size_t current_ = 0;
};

TEST_F(WebsocketCluster, EventsPublishedOnOneNodeReachSubscribersOnEveryNode) {
  StartNode();
  StartNode();
  StartNode();
  NodePeer& on_b = ClientOn(1, "on_b", {"news"});
  NodePeer& on_c = ClientOn(2, "on_c", {"news"});

  // POST /api/publish on node A.
  auto r = PublishOn(0, R"({"topic":"news","message":{"event":"via-api","data":{"n":1}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  for (NodePeer* p : {&on_b, &on_c})
    EXPECT_TRUE(p->wait_for(EventData("via-api", R"({"n":1})"))) << p->name();

  // The Pusher REST API of node A (the npm `pusher` library).
  Use(0);
  auto rest = RestOne({{"op", "trigger"}, {"channels", json::array{"news"}}, {"event", "via-rest"},
                       {"data", json::object{{"n", 2}}}});
  EXPECT_EQ(str(rest.if_contains("status")), "200") << json::serialize(rest);
  for (NodePeer* p : {&on_b, &on_c})
    EXPECT_TRUE(p->wait_for(EventData("via-rest", R"({"n":2})"))) << p->name();

  // `herald publish` with node A's config: it sends through node A's HTTP API.
  auto cli = HeraldOn(0, {"publish", "news", "-m", R"({"event":"via-cli","data":{"n":3}})"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  for (NodePeer* p : {&on_b, &on_c})
    EXPECT_TRUE(p->wait_for(EventData("via-cli", R"({"n":3})"))) << p->name();

  // Each event exactly once per client, although every node saw each.
  std::this_thread::sleep_for(300ms);
  for (NodePeer* p : {&on_b, &on_c})
    for (const char* e : {"via-api", "via-rest", "via-cli"})
      EXPECT_EQ(p->count(Event(e, "news")), 1u) << p->name() << " " << e;
}

TEST_F(WebsocketCluster, SocketExclusionHoldsOnEveryNode) {
  StartNode();
  StartNode();
  NodePeer& sender = ClientOn(1, "sender", {"news"});  // on node B
  NodePeer& other = ClientOn(0, "other", {"news"});    // on node A
  const std::string sender_id = SocketId(sender);
  ASSERT_FALSE(sender_id.empty());

  // REST `socket_id` on node A excludes a socket of node B.
  Use(0);
  auto rest = RestOne({{"op", "trigger"}, {"channels", json::array{"news"}}, {"event", "rest-others"},
                       {"data", "1"}, {"params", json::object{{"socket_id", sender_id}}}});
  EXPECT_EQ(str(rest.if_contains("status")), "200") << json::serialize(rest);
  // X-Socket-ID on POST /api/publish of node A: the same.
  auto r = PublishOn(0, R"({"topic":"news","message":{"event":"api-others","data":"2"}})",
                     {{"X-Socket-ID", sender_id}});
  ASSERT_EQ(r.status, 200) << r.body;
  // A marker everybody gets, published after both: once it arrived, the others would have too.
  r = PublishOn(0, R"({"topic":"news","message":{"event":"marker","data":"3"}})");
  ASSERT_EQ(r.status, 200) << r.body;

  EXPECT_TRUE(other.wait_for(Event("rest-others", "news")));
  EXPECT_TRUE(other.wait_for(Event("api-others", "news")));
  ASSERT_TRUE(sender.wait_for(Event("marker", "news")));
  EXPECT_EQ(sender.count(Event("rest-others", "news")), 0u);
  EXPECT_EQ(sender.count(Event("api-others", "news")), 0u);

  // A bad X-Socket-ID is a 400, and so is one with a message that is not an event envelope.
  EXPECT_EQ(PublishOn(0, R"({"topic":"news","message":{"event":"e","data":1}})",
                      {{"X-Socket-ID", "abc"}}).status, 400);
  EXPECT_EQ(PublishOn(0, R"({"topic":"news","message":"plain"})", {{"X-Socket-ID", sender_id}}).status,
            400);
}

TEST_F(WebsocketCluster, PresenceIsOneMemberPerUserForTheClusterAndDeadNodesLeave) {
  StartNode();
  StartNode();
  NodePeer& ann_a = ClientOn(0, "ann_a", {"presence-room"}, UserHeaders(kUser1));
  NodePeer& ann_b = ClientOn(1, "ann_b", {"presence-room"}, UserHeaders(kUser1));
  {
    const auto s = ann_b.wait_for(has("subscribed", "presence-room"));
    ASSERT_TRUE(s);
    EXPECT_EQ(json::serialize(s->at("members").at("ids")), R"(["1"])") << json::serialize(*s);
  }
  NodePeer& bob_b = ClientOn(1, "bob_b", {"presence-room"}, UserHeaders(kUser2));
  {
    const auto s = bob_b.wait_for(has("subscribed", "presence-room"));
    ASSERT_TRUE(s);
    EXPECT_EQ(json::serialize(s->at("members").at("ids")), R"(["1","2"])") << json::serialize(*s);
  }
  // Ann on node A sees Bob (on node B) join, once.
  EXPECT_TRUE(ann_a.wait_for(has("member_added", "presence-room")));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ann_a.count(has("member_added", "presence-room")), 1u);
  EXPECT_EQ(ann_b.count(has("member_added", "presence-room")), 1u) << "Ann's second socket is no new member";

  // REST on node A answers for the cluster.
  Use(0);
  EXPECT_EQ(json::serialize(RestGet("/channels/presence-room/users")),
            R"({"users":[{"id":"1"},{"id":"2"}]})");
  EXPECT_EQ(json::serialize(
                RestGet("/channels/presence-room", {{"info", "subscription_count,user_count"}})),
            R"({"subscription_count":3,"user_count":2,"occupied":true})");

  // Node B dies without a word: Bob (only there) leaves within the node timeout; Ann (also on
  // node A) stays.
  const auto killed_at = std::chrono::steady_clock::now();
  nodes_[1].server->process().signal(SIGKILL);
  const auto removed = ann_a.wait_for(has("member_removed", "presence-room"), 10s);
  ASSERT_TRUE(removed) << "Bob was not removed";
  EXPECT_EQ(str(removed->if_contains("id")), "2");
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at,
            std::chrono::milliseconds(kNodeTimeoutMs + 2 * kHeartbeatMs + 1000));
  const auto from = ann_a.mark();
  ann_a.run({{"op", "members"}, {"channel", "presence-room"}});
  const auto m = ann_a.wait_for(has("members", "presence-room"), 10s, from);
  ASSERT_TRUE(m);
  EXPECT_EQ(json::serialize(*m), R"({"members":"presence-room","count":1,"ids":["1"],"me":"1"})");
  EXPECT_EQ(json::serialize(RestGet("/channels/presence-room/users")), R"({"users":[{"id":"1"}]})");
}

TEST_F(WebsocketCluster, ARedisRestartLosesNothingPublishedOnceTheBusIsBack) {
  StartNode();
  StartNode();
  NodePeer& on_a = ClientOn(0, "on_a", {"news"});
  NodePeer& on_b = ClientOn(1, "on_b", {"news"});

  redis_.kill();
  // Local delivery goes on; /healthz says the bus is down.
  auto r = PublishOn(0, R"({"topic":"news","message":{"event":"during","data":"x"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(on_a.wait_for(Event("during", "news")));
  {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    HttpReply h;
    do {
      h = nodes_[0].server->get("/healthz");
    } while (h.status == 200 && std::chrono::steady_clock::now() < deadline &&
             (std::this_thread::sleep_for(50ms), true));
    EXPECT_EQ(h.status, 503) << h.body;
    EXPECT_NE(h.body.find("cluster bus down"), std::string::npos) << h.body;
  }
  const auto metrics = nodes_[0].server->get("/metrics");
  EXPECT_NE(metrics.body.find("herald_ws_bus_up{connection=\"websocket\"} 0"), std::string::npos)
      << metrics.body.substr(0, 4000);

  redis_.start();
  ASSERT_TRUE(Healthy(0, 20s) && Healthy(1, 20s)) << "the bus did not come back";
  for (int i = 0; i < 20; ++i) {
    r = PublishOn(0, "{\"topic\":\"news\",\"message\":{\"event\":\"after\",\"data\":\"" +
                         std::to_string(i) + "\"}}");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(on_b.wait_for(EventData("after", std::to_string(i)), 10s)) << "event " << i;
  EXPECT_NE(nodes_[0].server->get("/metrics").body.find("herald_ws_bus_reconnects_total{connection=\"websocket\"} 1"),
            std::string::npos);
}

TEST_F(WebsocketCluster, PrefixesKeepAppsOnOneRedisApart) {
  StartNode("app-one:");
  StartNode("app-two:");
  StartNode("app-two:");
  NodePeer& one = ClientOn(0, "one", {"news"});
  NodePeer& two = ClientOn(2, "two", {"news"});
  auto r = PublishOn(1, R"({"topic":"news","message":{"event":"for-two","data":"1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(two.wait_for(Event("for-two", "news")));
  r = PublishOn(0, R"({"topic":"news","message":{"event":"for-one","data":"2"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(one.wait_for(Event("for-one", "news")));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(one.count(Event("for-two", "news")), 0u);
  EXPECT_EQ(two.count(Event("for-one", "news")), 0u);
}

// Webhooks are the cluster's: one channel_occupied per channel and one member_added per user,
// whichever nodes the sockets are on.
Predicate Webhook(const std::string& name, const std::string& channel) {
  return [name, channel](const Line& line) {
    const auto* w = line.if_contains("webhook");
    return w != nullptr && w->is_object() && str(w->as_object().if_contains("name")) == name &&
           str(w->as_object().if_contains("channel")) == channel;
  };
}

TEST_F(WebsocketCluster, WebhooksAreSentOncePerClusterNotOncePerNode) {
  peers_.push_back(std::make_unique<NodePeer>(
      node_, kScripts / "webhook_receiver.js", dir_, "receiver",
      json::object{{"port", free_tcp_port()}, {"key", kAppKey}, {"secret", kAppSecret}}));
  NodePeer& receiver = *peers_.back();
  const auto listening = receiver.wait_for(has_key("listening"), 15s);
  ASSERT_TRUE(listening);
  const std::string hooks = "webhooks = [{ url = \"http://127.0.0.1:" +
                            str(listening->if_contains("listening")) + "/hook\" }]\n";
  StartNode({}, hooks);
  StartNode({}, hooks);
  // Both in sync (each knows the other, so only the lowest id sends), however loaded the machine.
  for (auto& node : nodes_) {
    bool synced = false;
    for (auto until = std::chrono::steady_clock::now() + 15s;
         !synced && std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(50ms))
      synced = node.server->get("/metrics").body.find(
                   "herald_ws_bus_nodes{connection=\"websocket\"} 2") != std::string::npos;
    ASSERT_TRUE(synced) << "the nodes never saw each other";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(kHeartbeatMs));  // and their members

  NodePeer& a_news = ClientOn(0, "a_news", {"news"});
  NodePeer& b_news = ClientOn(1, "b_news", {"news"});
  NodePeer& ann_a = ClientOn(0, "ann_a", {"presence-room"}, UserHeaders(kUser1));
  NodePeer& ann_b = ClientOn(1, "ann_b", {"presence-room"}, UserHeaders(kUser1));
  EXPECT_TRUE(receiver.wait_for(Webhook("channel_occupied", "news")));
  EXPECT_TRUE(receiver.wait_for(Webhook("member_added", "presence-room")));

  // Ann leaves node A right after joining on node B. Node B told the others of its first
  // presence-room socket before it answered her, so the leader sends one channel_vacated (with
  // counts sent only every 100 ms it once saw the channel vacated and occupied again here).
  for (NodePeer* p : {&a_news, &b_news, &ann_a, &ann_b}) p->send({{"op", "disconnect"}});
  EXPECT_TRUE(receiver.wait_for(Webhook("channel_vacated", "news")));
  EXPECT_TRUE(receiver.wait_for(Webhook("member_removed", "presence-room")));
  EXPECT_TRUE(receiver.wait_for(Webhook("channel_vacated", "presence-room")));
  std::this_thread::sleep_for(500ms);  // anything sent twice would have arrived by now
  for (const char* name : {"channel_occupied", "channel_vacated"})
    for (const char* channel : {"news", "presence-room"})
      EXPECT_EQ(receiver.count(Webhook(name, channel)), 1u) << name << " " << channel;
  EXPECT_EQ(receiver.count(Webhook("member_added", "presence-room")), 1u);
  EXPECT_EQ(receiver.count(Webhook("member_removed", "presence-room")), 1u);
  for (const auto& r : receiver.all(has_key("request")))
    EXPECT_EQ(str(r.if_contains("valid")), "true") << json::serialize(r);
}

// The README's two-node recipe, verbatim: the shipped config, two `herald serve` that differ in
// HERALD_LISTEN and HERALD_WS_LISTEN, one HERALD_BUS.
TEST_F(WebsocketCluster, TheReadmeRecipeTwoNodesFromTheShippedConfig) {
  const fs::path shipped = fs::path(HERALD_TEST_SOURCE_DIR) / "config" / "broadcasting.toml";
  const std::string toml = read_file(shipped);
  std::vector<std::pair<std::string, std::string>> common{
      {"HERALD_BUS", redis_.url()},
      {"HERALD_APP_SECRET", "recipe-secret"},
      {"HERALD_JWT_SECRET", kJwtSecret},
      {"HERALD_API_KEY", kApiKey}};
  std::vector<std::uint16_t> ws_ports;
  for (int i = 0; i < 2; ++i) {
    Node node;
    node.dir = std::make_unique<TempDir>("herald-recipe-node");
    node.ws_port = free_tcp_port();
    ws_ports.push_back(node.ws_port);
    HeraldServer::Options options;
    options.env = common;
    options.env.emplace_back("HERALD_WS_LISTEN", "127.0.0.1:" + std::to_string(node.ws_port));
    node.server = std::make_unique<HeraldServer>(*node.dir, toml, std::move(options));
    node.server->process().wait_for_port(node.ws_port, 20s);
    nodes_.push_back(std::move(node));
    ASSERT_TRUE(Healthy(nodes_.size() - 1)) << nodes_.back().server->log();
  }
  // pusher-js on node 2 with the shipped key.
  Use(1);
  NodePeer& browser = Subscribed("browser", {"order.1"}, {{"key", "herald-key"}});
  // `herald publish` on node 1's config and environment, as the README shows it.
  cli_test::RunOptions run;
  run.env = common;
  run.env.emplace_back("HERALD_WS_LISTEN", "127.0.0.1:" + std::to_string(ws_ports[0]));
  run.cwd = nodes_[0].dir->path();
  const auto r = cli_test::RunProcess(
      kHeraldBinary,
      {"--config", (nodes_[0].dir->path() / "broadcasting.toml").string(), "--plugin-dir",
       kPluginDir.string(), "publish", "order.1", "-m", R"({"status":"purchased"})"},
      run);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto got = browser.wait_for(Event("message", "order.1"));
  ASSERT_TRUE(got);
  EXPECT_EQ(str(got->if_contains("data")), R"({"status":"purchased"})");
}

}  // namespace
}  // namespace herald::testing_support::ws_e2e
