// The `websocket` connection's live console (plugins/websocket/README.md "Console") through the
// real `herald serve`: the page and its assets with their headers, the two /console/api
// endpoints behind the app secret, delivery of a console publish to a raw Pusher protocol 7
// client (tests/support/ws_test_client.hpp), and `console = false`.
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "cli_test_support.hpp"
#include "herald_server.hpp"
#include "test_files.hpp"
#include "ws_test_client.hpp"

#include "../../plugins/common/pusher/pusher_signing.hpp"

namespace {

namespace json = boost::json;
using herald::testing_support::free_tcp_port;
using herald::testing_support::Headers;
using herald::testing_support::HeraldServer;
using herald::testing_support::http_request;
using herald::testing_support::HttpReply;
using herald::testing_support::pusher_connect;
using herald::testing_support::PusherConnection;
using herald::testing_support::TempDir;
using herald::testing_support::WsClient;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Millis = std::chrono::milliseconds;

const std::string kSecret = "app-secret";

std::string ErrorOf(const HttpReply& r) {
  boost::system::error_code ec;
  const auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error") || !v.at("error").is_string())
    return "<no {\"error\":string} in: " + r.body + ">";
  return std::string(v.at("error").as_string());
}

json::object Body(const HttpReply& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return json::object{{"not_json", r.body}};
  return std::move(v.as_object());
}

class WebsocketConsole : public ::testing::Test {
 protected:
  void Start(const std::string& extra = {}) {
    const std::string toml =
        "default = \"websocket\"\n[server]\napi_key = \"test-key\"\n"
        "[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
        std::to_string(ws_port_) + "\"\napp_id = \"app1\"\nkey = \"app-key\"\nsecret = \"" +
        kSecret + "\"\n" + extra;
    server_ = std::make_unique<HeraldServer>(dir_, toml);
    server_->process().wait_for_port(ws_port_, std::chrono::seconds(20));
  }

  HttpReply Request(const std::string& method, const std::string& target,
                    const std::string& body = {}, const Headers& headers = {}) {
    return http_request(ws_port_, method, target, body, headers, std::chrono::seconds(10));
  }
  HttpReply Get(const std::string& target, const Headers& headers = {}) {
    return Request("GET", target, {}, headers);
  }
  static Headers Bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
  HttpReply Stats(const std::string& key = kSecret) {
    return Get("/console/api/stats", Bearer(key));
  }
  HttpReply Publish(const std::string& body, const std::string& key = kSecret) {
    Headers h = Bearer(key);
    h.emplace_back("Content-Type", "application/json");
    return Request("POST", "/console/api/publish", body, h);
  }

  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "----- herald serve log:\n" << server_->log() << "\n";
  }

  TempDir dir_{"herald-ws-console"};
  std::uint16_t ws_port_ = free_tcp_port();
  std::unique_ptr<HeraldServer> server_;
};

TEST_F(WebsocketConsole, ThePageIsHtmlWithAStrictPolicy) {
  Start();
  const HttpReply r = Get("/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  const std::string csp = r.header("Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("default-src 'self'"));
  EXPECT_THAT(csp, HasSubstr("script-src 'self';"));
  EXPECT_THAT(csp, HasSubstr("connect-src 'self' ws://127.0.0.1:" + std::to_string(ws_port_)));
  EXPECT_THAT(csp, HasSubstr("http://127.0.0.1:*")) << "the authorize endpoint of herald serve";
  EXPECT_THAT(csp, HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_THAT(r.body, StartsWith("<!doctype html>"));
  // The app key (public) is filled in; the secret is never in the page.
  EXPECT_THAT(r.body, HasSubstr(R"(<meta name="herald-app-key" content="app-key">)"));
  EXPECT_THAT(r.body, Not(HasSubstr("{{")));
  EXPECT_THAT(r.body, Not(HasSubstr(kSecret)));
  // Everything it loads comes from this server.
  EXPECT_THAT(r.body, HasSubstr(R"(src="/console/console.js")"));
  EXPECT_THAT(r.body, HasSubstr(R"(href="/console/console.css")"));
  EXPECT_THAT(r.body, Not(HasSubstr("http://")));
  EXPECT_THAT(r.body, Not(HasSubstr("https://")));

  // A Host header that is not host[:port] does not reach the policy.
  const HttpReply odd = Get("/", {{"Host", "evil.example; script-src *"}});
  ASSERT_EQ(odd.status, 200);
  EXPECT_THAT(odd.header("Content-Security-Policy"), HasSubstr("connect-src 'self';"));
  EXPECT_THAT(odd.header("Content-Security-Policy"), Not(HasSubstr("evil")));
}

TEST_F(WebsocketConsole, AssetsAreServedWithTheirTypes) {
  Start();
  const HttpReply js = Get("/console/console.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.header("Cache-Control"), "no-cache");
  EXPECT_EQ(js.header("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(js.body, HasSubstr("pusher:subscribe"));
  const HttpReply css = Get("/console/console.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(css.header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_THAT(css.body, HasSubstr("@media"));
  const HttpReply icon = Get("/console/favicon.svg");
  ASSERT_EQ(icon.status, 200);
  EXPECT_EQ(icon.header("Content-Type"), "image/svg+xml");

  const HttpReply missing = Get("/console/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  EXPECT_THAT(ErrorOf(missing), HasSubstr("not found"));
  const HttpReply post = Request("POST", "/", "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET");
  // Other paths are still the driver's 404.
  EXPECT_EQ(Get("/index.html").status, 404);
}

TEST_F(WebsocketConsole, TheApiNeedsTheAppSecret) {
  Start();
  for (const auto& [what, reply] :
       {std::pair{"no key", Get("/console/api/stats")},
        std::pair{"wrong key", Stats("not-the-secret")},
        std::pair{"a longer wrong key", Stats(kSecret + "x")}, std::pair{"a prefix", Stats("app")},
        std::pair{"basic auth", Get("/console/api/stats", {{"Authorization", "Basic YTpi"}})},
        std::pair{"the app key", Stats("app-key")},
        std::pair{"the server api key", Stats("test-key")},
        std::pair{"publish, no key", Request("POST", "/console/api/publish",
                                             R"({"channel":"a","event":"e","data":""})")},
        std::pair{"publish, wrong key",
                  Publish(R"({"channel":"a","event":"e","data":""})", "nope")}}) {
    EXPECT_EQ(reply.status, 401) << what << ": " << reply.body;
    EXPECT_THAT(ErrorOf(reply), Not(HasSubstr("<no"))) << what;
    EXPECT_THAT(reply.body, Not(HasSubstr(kSecret))) << what;
    EXPECT_EQ(reply.header("Content-Type"), "application/json") << what;
  }
  EXPECT_THAT(server_->log(), Not(HasSubstr(kSecret)));
  EXPECT_EQ(Stats("  " + kSecret + " ").status, 200) << "surrounding blanks are not part of it";
  EXPECT_EQ(Get("/console/api/stats", {{"Authorization", "bearer " + kSecret}}).status, 200);
  // Wrong methods and unknown endpoints.
  const HttpReply post_stats = Request("POST", "/console/api/stats", "", Bearer(kSecret));
  EXPECT_EQ(post_stats.status, 405);
  EXPECT_EQ(post_stats.header("Allow"), "GET");
  EXPECT_EQ(Get("/console/api/publish", Bearer(kSecret)).status, 405);
  EXPECT_EQ(Get("/console/api/other", Bearer(kSecret)).status, 404);
}

TEST_F(WebsocketConsole, PublishReachesASubscriberAndStatsCountIt) {
  Start();
  const HttpReply empty = Stats();
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty), json::parse(R"({"app_id":"app1","connections":0,"subscriptions":0,
                                          "channels":[]})"));
  EXPECT_EQ(empty.header("Cache-Control"), "no-store");

  PusherConnection c = pusher_connect(ws_port_);
  ASSERT_FALSE(c.socket_id.empty());
  auto ok = c.subscribe("orders");
  ASSERT_TRUE(ok && WsClient::event_name(*ok) == "pusher_internal:subscription_succeeded");
  PusherConnection idle = pusher_connect(ws_port_);
  ASSERT_FALSE(idle.socket_id.empty());

  const HttpReply r = Publish(R"({"channel":"orders","event":"order.paid","data":"{\"id\":7}"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"published":1})"));
  auto e = c->wait_event("order.paid", Millis(3000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(WsClient::channel_of(*e), "orders");
  EXPECT_EQ(WsClient::data_string(*e), R"({"id":7})") << "data is relayed as the same string";

  const HttpReply s = Stats();
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(Body(s), json::parse(R"({"app_id":"app1","connections":2,"subscriptions":1,
                                      "channels":[{"name":"orders","subscriptions":1}]})"));
}

TEST_F(WebsocketConsole, PresenceChannelsReportUsers) {
  Start();
  PusherConnection c = pusher_connect(ws_port_);
  ASSERT_FALSE(c.socket_id.empty());
  const herald::pusher::Credentials creds{"app1", "app-key", kSecret};
  const std::string data = R"({"user_id":"7","user_info":{}})";
  auto ok =
      c.subscribe("presence-room",
                  herald::pusher::channel_auth(creds, c.socket_id, "presence-room", data), data);
  ASSERT_TRUE(ok && WsClient::event_name(*ok) == "pusher_internal:subscription_succeeded");
  const HttpReply s = Stats();
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(Body(s).at("channels"),
            json::parse(R"([{"name":"presence-room","subscriptions":1,"users":1}])"));
}

TEST_F(WebsocketConsole, BadPublishesAreRefusedWithAReason) {
  Start("max_message_bytes = 1024\n");
  struct Case {
    const char* body;
    int status;
    const char* error;
  };
  const std::string big = R"({"channel":"a","event":"e","data":")" + std::string(2000, 'x') + "\"}";
  for (const Case& c : {
           Case{"not json", 400, "JSON object"},
           Case{"[1]", 400, "JSON object"},
           Case{R"({"event":"e","data":""})", 400, "`channel`"},
           Case{R"({"channel":"a","data":""})", 400, "`event`"},
           Case{R"({"channel":"a","event":"e"})", 400, "`data`"},
           Case{R"({"channel":"a","event":"e","data":{"x":1}})", 400, "`data`"},
           Case{R"({"channel":"bad channel!","event":"e","data":""})", 400, "invalid channel"},
           Case{R"({"channel":"a","event":"","data":""})", 400, "`name`"},
           Case{R"({"channel":"a","event":"e","data":"","extra":1})", 400, "unknown field `extra`"},
           Case{big.c_str(), 413, "over 1024 bytes"},
       }) {
    const HttpReply r = Publish(c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_THAT(ErrorOf(r), HasSubstr(c.error)) << c.body;
  }
  ASSERT_TRUE(server_->process().running()) << server_->log();
  EXPECT_EQ(Stats().status, 200);
}

TEST_F(WebsocketConsole, ConsoleFalseAnswers404) {
  Start("console = false\n");
  for (const char* path :
       {"/", "/console/console.js", "/console/console.css", "/console/api/stats"}) {
    const HttpReply r = Get(path, Bearer(kSecret));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.header("Content-Security-Policy"), "") << path;
    EXPECT_THAT(r.body, Not(HasSubstr("<html"))) << path;
  }
  EXPECT_EQ(Publish(R"({"channel":"a","event":"e","data":""})").status, 404);
  // The rest of the server is unchanged.
  PusherConnection c = pusher_connect(ws_port_);
  EXPECT_FALSE(c.socket_id.empty());
}

TEST_F(WebsocketConsole, ConsoleMustBeABoolean) {
  const std::string toml =
      "default = \"websocket\"\n[connections.websocket]\ndriver = \"websocket\"\nlisten = "
      "\"127.0.0.1:" +
      std::to_string(ws_port_) +
      "\"\napp_id = \"app1\"\nkey = \"app-key\"\nsecret = \"s\"\nconsole = \"yes\"\n";
  const auto config = herald::testing_support::write_file(dir_ / "bad.toml", toml);
  const auto r =
      herald::cli_test::RunProcess(HERALD_TEST_BINARY, {"--config", config.string(), "check"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("`console` must be a boolean"));
}

}  // namespace
