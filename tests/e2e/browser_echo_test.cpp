// Laravel Echo in a real browser against `herald serve`: headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) loads tests/e2e/browser/echo_page.html, which uses
// laravel-echo + pusher-js served from tests/e2e/node_modules on 127.0.0.1 (no network), and
// talks to the `websocket` driver and to Herald's authorize endpoint cross-origin (`[server]
// cors_origins` and the driver's `allowed_origins` name the page's origin). The assertions are on
// the page's text, read from the DOM by tests/e2e/js/browser_echo.js.
//   1. Echo.private('order.1') authorized by a JWT rule, an event from `herald publish` shown;
//   2. a wrong token: Echo's error callback shows the authorize endpoint's 403;
//   3. Echo.join('room'): here / joining / leaving across two browser contexts (two users), each
//      user's identity from the verified JWT's `sub` and `user_info` claims (the `room` rule is
//      a jwt rule here, and no address is a trusted proxy, so no header could name a user).
// Chromium missing is a failure (scripts/install-deps.sh --test installs it), never a skip.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ws_e2e.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using namespace testing_support::ws_e2e;


using Dom = json::object;
using Texts = std::vector<std::string>;

std::string Text(const Dom& dom, const char* field) { return str(dom.if_contains(field)); }
Texts List(const Dom& dom, const char* field) {
  Texts out;
  if (const auto* list = dom.if_contains(field); list != nullptr && list->is_array())
    for (const auto& item : list->as_array()) out.push_back(str(&item));
  return out;
}

class BrowserEcho : public WsE2ETest {
 protected:
  void SetUp() override {
    WsE2ETest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(fs::exists(kNodeModules / "laravel-echo" / "dist" / "echo.js") &&
                fs::exists(kNodeModules / "playwright-core" / "package.json"))
        << "laravel-echo or playwright-core missing from " << kNodeModules
        << ": run scripts/install-deps.sh --test (npm ci in tests/e2e)";
    const char* env = std::getenv("HERALD_CHROMIUM");
    const fs::path chromium = env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
    ASSERT_TRUE(fs::exists(chromium))
        << "Chromium not found at " << chromium
        << ": the BrowserEcho tests need Debian's chromium (scripts/install-deps.sh --test, or "
           "apt-get install chromium; HERALD_CHROMIUM names another binary)";

    // The page server and the browser first: the page's origin goes into Herald's config.
    peers_.push_back(std::make_unique<NodePeer>(
        node_, kScripts / "browser_echo.js", dir_, "browser",
        json::object{{"node_modules", kNodeModules.string()},
                     {"chromium", chromium.string()},
                     {"tmpdir", dir_.path().string()},
                     {"timeout_ms", 150000}}));
    browser_ = peers_.back().get();
    const auto ready =
        browser_->wait_for([](const Line& l) { return l.contains("ready") || l.contains("error"); },
                           60s);
    ASSERT_TRUE(ready && ready->contains("ready"))
        << "browser_echo.js could not serve the page and start Chromium (60 s): "
        << (ready ? json::serialize(*ready) : browser_->output());
    origin_ = str(ready->if_contains("origin"));
    ASSERT_EQ(origin_.rfind("http://127.0.0.1:", 0), 0u) << json::serialize(*ready);

    // What a user writes: CORS for the page's origin on the authorize path, and only that
    // origin allowed to open a WebSocket.
    // Presence in `room` needs a token: its claims are the user (GUARD.md "User identity"); and
    // the browser is on loopback, so loopback must not be a trusted proxy here.
    std::string config = Config("allowed_origins = [\"" + origin_ + "\"]\n",
                                "cors_origins = [\"" + origin_ + "\"]\n");
    Replace(config, "pattern = \"room\"\nrule = { allow = true }",
            std::string("pattern = \"room\"\nrule = { jwt = { secret = \"") + kJwtSecret + "\" } }");
    Replace(config, "trusted_proxies = [\"127.0.0.1\"]\n", "");
    StartServerWith(config);
  }

  void TearDown() override {
    if (browser_ != nullptr) browser_->exit();  // closes Chromium cleanly
    WsE2ETest::TearDown();
  }

  static void Replace(std::string& text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << "not in the config: " << from;
    text.replace(at, from.size(), to);
  }

  // The page settings echo_page.js reads.
  json::object PageConfig() const {
    return {{"key", kAppKey},
            {"wsHost", "127.0.0.1"},
            {"wsPort", ws_port_},
            {"authEndpoint", AuthEndpoint()}};
  }

  // Opens `page` in a browser context of its own; `command` adds jwt / config fields.
  void Open(const std::string& page, json::object config, json::object command = {}) {
    command["op"] = "open";
    command["page"] = page;
    command["config"] = std::move(config);
    const size_t from = browser_->mark();
    ASSERT_TRUE(browser_->run(command, 40s)) << "open " << page << ": no answer in 40 s";
    const auto error = browser_->wait_for(has_key("error"), 0ms, from);
    ASSERT_FALSE(error) << "open " << page << ": " << json::serialize(*error);
  }

  // The last DOM texts `page` showed ({} before the first).
  Dom LastDom(const std::string& page) const {
    Dom last;
    for (const auto& line : browser_->all(has("page", page)))
      if (const auto* dom = line.if_contains("dom"); dom != nullptr && dom->is_object())
        last = dom->as_object();
    return last;
  }

  // Waits until what `page` shows satisfies `ready`; returns that DOM, or the last one seen.
  Dom WaitDom(const std::string& page, const std::function<bool(const Dom&)>& ready,
              std::chrono::milliseconds timeout = 20s) {
    const auto hit = browser_->wait_for(
        [&](const Line& l) {
          if (str(l.if_contains("page")) != page) return false;
          const auto* dom = l.if_contains("dom");
          return dom != nullptr && dom->is_object() && ready(dom->as_object());
        },
        timeout);
    return hit ? hit->at("dom").as_object() : LastDom(page);
  }

  // Nothing the pages did may fail or leave the machine.
  void ExpectCleanPages() const {
    for (const char* bad : {"pageerror", "offsite", "error"})
      EXPECT_EQ(browser_->count(has_key(bad)), 0u) << bad << " lines:\n" << browser_->output();
  }

  // The status of the page's requests to the authorize endpoint (preflights excluded).
  std::vector<std::string> AuthStatuses(const std::string& page) const {
    std::vector<std::string> out;
    for (const auto& line : browser_->all(has("page", page)))
      if (line.contains("response") && str(line.if_contains("method")) == "POST" &&
          str(line.if_contains("url")) == AuthEndpoint())
        out.push_back(str(line.if_contains("response")));
    return out;
  }

  NodePeer* browser_ = nullptr;
  std::string origin_;
};

TEST_F(BrowserEcho, PrivateChannelShowsTheCliEventAndAWrongTokenIsDenied) {
  json::object config = PageConfig();
  config["private"] = {{"channel", "order.1"},
                       {"listen", json::array{".OrderShipped", "OrderPaid"}}};
  // The JWT rule of Config(): order.{id} needs sub == {id}.
  Open("buyer", config, {{"jwt", {{"secret", kJwtSecret}, {"sub", "1"}}}});
  Open("stranger", config, {{"jwt", {{"secret", kJwtSecret}, {"sub", "2"}}}});

  Dom buyer = WaitDom("buyer", [](const Dom& d) { return Text(d, "status") == "subscribed"; });
  EXPECT_EQ(Text(buyer, "connection"), "connected") << json::serialize(buyer);
  EXPECT_EQ(Text(buyer, "channel"), "private-order.1") << json::serialize(buyer);
  ASSERT_EQ(Text(buyer, "status"), "subscribed")
      << "Echo.private('order.1') with a good token: " << json::serialize(buyer) << "\n"
      << browser_->output();

  // 2. Another order's token: the authorize endpoint says 403 (with CORS headers, or the
  // browser would report status 0), and Echo's error callback shows it.
  const Dom stranger = WaitDom("stranger", [](const Dom& d) {
    return Text(d, "status").rfind("subscription error", 0) == 0;
  });
  EXPECT_EQ(Text(stranger, "status"), "subscription error: AuthError 403")
      << json::serialize(stranger) << "\n"
      << browser_->output();
  EXPECT_EQ(AuthStatuses("buyer"), std::vector<std::string>{"200"}) << browser_->output();
  EXPECT_EQ(AuthStatuses("stranger"), std::vector<std::string>{"403"}) << browser_->output();

  // 1. Events published from the CLI (one-shot `herald publish` through the running server):
  // an {"event","data"} envelope, listened for as '.OrderShipped', and a Laravel-style
  // namespaced event, listened for as 'OrderPaid' (Echo's default namespace App.Events).
  for (const char* message : {R"({"event":"OrderShipped","data":{"order":1,"status":"shipped"}})",
                              R"({"event":"App\\Events\\OrderPaid","data":{"order":1}})"}) {
    const auto r = Herald({"publish", "-c", "websocket", "private-order.1", "-m", message});
    EXPECT_EQ(r.exit_code, 0) << "herald publish " << message << "\n" << r.out << r.err;
  }
  const Texts expected{R"(.OrderShipped {"order":1,"status":"shipped"})",
                       R"(OrderPaid {"order":1})"};
  buyer = WaitDom("buyer", [&](const Dom& d) { return List(d, "events").size() >= 2; });
  EXPECT_EQ(List(buyer, "events"), expected)
      << "the page's #events: " << json::serialize(buyer) << "\n"
      << browser_->output();

  // The events reached the buyer's page; half a second later the stranger still shows none.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(List(LastDom("stranger"), "events"), Texts{}) << json::serialize(LastDom("stranger"));
  EXPECT_EQ(Text(LastDom("stranger"), "connection"), "connected");
  ExpectCleanPages();
}

TEST_F(BrowserEcho, PresenceHereJoiningLeavingAcrossTwoContexts) {
  // Two users, each in a browser context of its own; the identity comes from the claims of the
  // JWT the `room` rule verified (`sub`, `user_info`), sent in Echo's auth.headers. (A browser
  // cannot even send an identity header cross-origin: the preflight allows only the headers the
  // endpoint reads.)
  json::object ann = PageConfig();
  ann["presence"] = "room";
  json::object bob = PageConfig();
  bob["presence"] = "room";
  const auto user = [](const char* sub, const char* name) {
    return json::object{{"jwt", {{"secret", kJwtSecret}, {"sub", sub}, {"user_info", {{"name", name}}}}}};
  };

  // Without a token: no presence, 403.
  Open("mallory", ann);
  const Dom mallory = WaitDom("mallory", [](const Dom& d) {
    return Text(d, "status").rfind("subscription error", 0) == 0;
  });
  EXPECT_EQ(Text(mallory, "status"), "subscription error: AuthError 403")
      << json::serialize(mallory) << "\n" << browser_->output();
  ASSERT_TRUE(browser_->run({{"op", "close"}, {"page", "mallory"}}, 20s)) << browser_->output();

  Open("ann", ann, user("1", "Ann"));
  Dom dom = WaitDom("ann", [](const Dom& d) { return !List(d, "presence").empty(); });
  EXPECT_EQ(List(dom, "presence"), Texts{"here: Ann"}) << json::serialize(dom) << "\n"
                                                       << browser_->output();
  EXPECT_EQ(List(dom, "members"), Texts{"Ann"}) << json::serialize(dom);
  EXPECT_EQ(Text(dom, "channel"), "presence-room") << json::serialize(dom);

  Open("bob", bob, user("2", "Bob"));
  dom = WaitDom("bob", [](const Dom& d) { return !List(d, "presence").empty(); });
  EXPECT_EQ(List(dom, "presence"), Texts{"here: Ann, Bob"}) << json::serialize(dom) << "\n"
                                                            << browser_->output();
  EXPECT_EQ(List(dom, "members"), (Texts{"Ann", "Bob"})) << json::serialize(dom);

  dom = WaitDom("ann", [](const Dom& d) { return List(d, "presence").size() >= 2; });
  EXPECT_EQ(List(dom, "presence"), (Texts{"here: Ann", "joining: Bob"}))
      << json::serialize(dom) << "\n"
      << browser_->output();
  EXPECT_EQ(List(dom, "members"), (Texts{"Ann", "Bob"})) << json::serialize(dom);

  // Bob closes his window (his context): Ann sees him leave.
  ASSERT_TRUE(browser_->run({{"op", "close"}, {"page", "bob"}}, 20s)) << browser_->output();
  dom = WaitDom("ann", [](const Dom& d) { return List(d, "presence").size() >= 3; });
  EXPECT_EQ(List(dom, "presence"), (Texts{"here: Ann", "joining: Bob", "leaving: Bob"}))
      << json::serialize(dom) << "\n"
      << browser_->output();
  EXPECT_EQ(List(dom, "members"), Texts{"Ann"}) << json::serialize(dom);
  EXPECT_EQ(AuthStatuses("ann"), std::vector<std::string>{"200"}) << browser_->output();
  EXPECT_EQ(AuthStatuses("bob"), std::vector<std::string>{"200"}) << browser_->output();
  EXPECT_EQ(AuthStatuses("mallory"), std::vector<std::string>{"403"}) << browser_->output();

  // The server agrees: one member left.
  EXPECT_EQ(str(RestGet("/channels/presence-room/users").if_contains("users")), R"([{"id":"1"}])");
  ExpectCleanPages();
}

}  // namespace
}  // namespace herald
