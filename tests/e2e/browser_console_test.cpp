// The `websocket` connection's live console (plugins/websocket/README.md "Console") in a real
// browser: headless Chromium (Debian's /usr/bin/chromium through playwright-core, driven by
// tests/e2e/js/browser_console.js) opens GET / of the connection's port under the real
// `herald serve` and is used as a person would: a wrong API key is refused visibly, the right
// one shows the live counts, a public channel is subscribed, an event published from the page's
// publish box and one from the CLI (`herald publish`) both appear in the log, a presence channel
// is joined through Herald's authorize endpoint (cross-origin, `[server] cors_origins`) with the
// page's "User" field, and the counts show the channels and their subscribers.
// Screenshots at 1280x800 and 390x844 go to $HERALD_CONSOLE_SCREENSHOTS (default:
// console-screenshots/ in the test's working directory, the build tree) as console-desktop.png
// and console-phone.png (plus console-phone-full.png, the whole page); the page must fit both
// widths without horizontal scrolling.
// Chromium missing is a failure (scripts/install-deps.sh --test installs it), never a skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "auth/jwt.hpp"
#include "ws_e2e.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using namespace testing_support::ws_e2e;

using Dom = json::object;

// Ann's token: presence identity comes from its verified `sub` and `user_info` claims.
std::string AnnToken() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return herald::sign_jwt({{"sub", "1"}, {"user_info", {{"name", "Ann"}}}, {"exp", now + 600}},
                          kJwtSecret);
}

std::string At(const Dom& dom, const char* object, const char* field) {
  const auto* o = dom.if_contains(object);
  return o != nullptr && o->is_object() ? str(o->as_object().if_contains(field)) : std::string{};
}
const json::array& Array(const Dom& dom, const char* field) {
  static const json::array kEmpty;
  const auto* a = dom.if_contains(field);
  return a != nullptr && a->is_array() ? a->as_array() : kEmpty;
}
// The status of `channel`'s chip in the subscribe box ("" when none).
std::string ChipStatus(const Dom& dom, const std::string& channel) {
  for (const auto& c : Array(dom, "channels"))
    if (str(c.as_object().if_contains("name")) == channel)
      return str(c.as_object().if_contains("status"));
  return {};
}
// The log's events on `channel` named `event`.
std::vector<json::object> Events(const Dom& dom, const std::string& channel,
                                 const std::string& event) {
  std::vector<json::object> out;
  for (const auto& e : Array(dom, "events"))
    if (str(e.as_object().if_contains("channel")) == channel &&
        str(e.as_object().if_contains("event")) == event)
      out.push_back(e.as_object());
  return out;
}
// The row of the counts table for `channel`, or {}.
json::object Row(const Dom& dom, const std::string& channel) {
  const auto* counts = dom.if_contains("counts");
  if (counts == nullptr || !counts->is_object()) return {};
  if (const auto* rows = counts->as_object().if_contains("rows");
      rows != nullptr && rows->is_array())
    for (const auto& r : rows->as_array())
      if (str(r.as_object().if_contains("name")) == channel) return r.as_object();
  return {};
}
int Number(const std::string& text) {
  try {
    return std::stoi(text);
  } catch (...) {
    return -1;
  }
}

class BrowserConsole : public WsE2ETest {
 protected:
  void SetUp() override {
    WsE2ETest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(fs::exists(kNodeModules / "playwright-core" / "package.json"))
        << "playwright-core missing from " << kNodeModules
        << ": run scripts/install-deps.sh --test (npm ci in tests/e2e)";
    const char* env = std::getenv("HERALD_CHROMIUM");
    chromium_ = env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
    ASSERT_TRUE(fs::exists(chromium_))
        << "Chromium not found at " << chromium_
        << ": the BrowserConsole test needs Debian's chromium (scripts/install-deps.sh --test, "
           "or apt-get install chromium; HERALD_CHROMIUM names another binary)";
    const char* shots = std::getenv("HERALD_CONSOLE_SCREENSHOTS");
    screenshots_ = shots != nullptr && *shots != '\0' ? fs::path(shots)
                                                      : fs::current_path() / "console-screenshots";
    fs::create_directories(screenshots_);

    // The console is served by the connection at its own port; its authorize requests go to
    // herald serve's port: another origin, allowed by cors_origins.
    origin_ = "http://127.0.0.1:" + std::to_string(ws_port_);
    config_ = Config({}, "cors_origins = [\"" + origin_ + "\"]\n");
    // `room` presence needs a token whose claims name the user (GUARD.md "User identity").
    const std::string open_room = "pattern = \"room\"\nrule = { allow = true }";
    config_.replace(config_.find(open_room), open_room.size(),
                    std::string("pattern = \"room\"\nrule = { jwt = { secret = \"") + kJwtSecret +
                        "\" } }");
    StartServerWith(config_);

    peers_.push_back(std::make_unique<NodePeer>(node_, kScripts / "browser_console.js", dir_,
                                                "browser",
                                                json::object{{"url", origin_ + "/"},
                                                             {"chromium", chromium_.string()},
                                                             {"tmpdir", dir_.path().string()},
                                                             {"timeout_ms", 150000}}));
    browser_ = peers_.back().get();
    const auto ready = browser_->wait_for(
        [](const Line& l) { return l.contains("ready") || l.contains("error"); }, 60s);
    ASSERT_TRUE(ready && ready->contains("ready"))
        << "browser_console.js did not start Chromium within 60 s: "
        << (ready ? json::serialize(*ready) : browser_->output());
  }

  void TearDown() override {
    if (browser_ != nullptr) browser_->exit();
    WsE2ETest::TearDown();
  }

  // Runs a command and fails the test when it reports an error.
  void Do(json::object command) {
    const size_t from = browser_->mark();
    const std::string what = json::serialize(command);
    ASSERT_TRUE(browser_->run(command, 40s)) << what << ": no answer in 40 s";
    const auto error = browser_->wait_for(has_key("error"), 0ms, from);
    ASSERT_FALSE(error) << what << ": " << json::serialize(*error);
  }
  void Fill(const char* id, const std::string& value) {
    Do({{"op", "fill"}, {"id", id}, {"value", value}});
  }
  void Click(const char* id) { Do({{"op", "click"}, {"id", id}}); }

  Dom LastDom() const {
    Dom last;
    for (const auto& line : browser_->all(has_key("dom"))) last = line.at("dom").as_object();
    return last;
  }
  // Waits until the page shows what `ready` wants; that DOM, or the last one seen.
  Dom WaitDom(const std::function<bool(const Dom&)>& ready,
              std::chrono::milliseconds timeout = 20s) {
    const auto hit = browser_->wait_for(
        [&](const Line& l) {
          const auto* dom = l.if_contains("dom");
          return dom != nullptr && dom->is_object() && ready(dom->as_object());
        },
        timeout);
    return hit ? hit->at("dom").as_object() : LastDom();
  }

  void Screenshot(const std::string& name, int width, int height, bool full_page = false) {
    const fs::path path = screenshots_ / name;
    const size_t from = browser_->mark();
    Do({{"op", "screenshot"},
        {"path", path.string()},
        {"width", width},
        {"height", height},
        {"full_page", full_page}});
    const auto shot = browser_->wait_for(has_key("screenshot"), 0ms, from);
    ASSERT_TRUE(shot) << browser_->output();
    EXPECT_EQ(str(shot->if_contains("overflow")), "0")
        << name << ": the page scrolls sideways at " << width << "px";
    ASSERT_TRUE(fs::exists(path) && fs::file_size(path) > 10000) << path;
    std::cerr << "screenshot: " << path.string() << "\n";
  }

  fs::path chromium_;
  fs::path screenshots_;
  std::string config_;
  std::string origin_;
  NodePeer* browser_ = nullptr;
};

TEST_F(BrowserConsole, SubscribePublishFromThePageAndTheCliAndSeeTheCounts) {
  Do({{"op", "open"}, {"width", 1280}, {"height", 800}});
  Dom dom = WaitDom([](const Dom& d) { return str(d.if_contains("state")) == "connected"; });
  ASSERT_EQ(str(dom.if_contains("state")), "connected") << json::serialize(dom) << "\n"
                                                        << browser_->output();
  EXPECT_FALSE(str(dom.if_contains("socket_id")).empty());
  EXPECT_NE(At(dom, "status", "counts").find("API key"), std::string::npos)
      << "without a key the counts say what they need: " << json::serialize(dom);

  // A wrong key: refused, and the page says so.
  Fill("api-key", "not-the-secret");
  Click("save-key");
  dom = WaitDom([](const Dom& d) {
    return At(d, "status", "key").find("wrong API key") != std::string::npos;
  });
  EXPECT_NE(At(dom, "status", "key").find("wrong API key"), std::string::npos)
      << json::serialize(dom);

  // The right key (the connection's app secret): live counts.
  Fill("api-key", kAppSecret);
  Click("save-key");
  dom = WaitDom([](const Dom& d) { return Number(At(d, "counts", "connections")) >= 1; });
  EXPECT_GE(Number(At(dom, "counts", "connections")), 1) << json::serialize(dom);
  EXPECT_EQ(At(dom, "status", "key"), "Key accepted.") << json::serialize(dom);

  // Subscribe to a public channel.
  Fill("channel", "orders");
  Click("subscribe");
  dom = WaitDom([](const Dom& d) { return ChipStatus(d, "orders") == "subscribed"; });
  ASSERT_EQ(ChipStatus(dom, "orders"), "subscribed") << json::serialize(dom) << "\n"
                                                     << browser_->output();

  // Publish from the page's publish box.
  Fill("pub-channel", "orders");
  Fill("pub-event", "order.paid");
  Fill("pub-data", R"({"order":7,"total":"42.00"})");
  Click("publish");
  dom = WaitDom([](const Dom& d) { return !Events(d, "orders", "order.paid").empty(); });
  auto events = Events(dom, "orders", "order.paid");
  ASSERT_EQ(events.size(), 1u) << json::serialize(dom) << "\n" << browser_->output();
  EXPECT_EQ(str(events[0].if_contains("data")), R"({"order":7,"total":"42.00"})");
  EXPECT_EQ(str(events[0].if_contains("time")).size(), 12u) << "HH:MM:SS.mmm";
  EXPECT_NE(At(dom, "status", "publish").find("Published order.paid to orders"), std::string::npos)
      << json::serialize(dom);

  // Publish from the CLI: a one-shot `herald publish` through the running server.
  const auto cli = Herald({"publish", "orders", "-m", R"({"status":"shipped","via":"cli"})"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  dom = WaitDom([](const Dom& d) { return !Events(d, "orders", "message").empty(); });
  events = Events(dom, "orders", "message");
  ASSERT_EQ(events.size(), 1u) << json::serialize(dom) << "\n" << browser_->output();
  EXPECT_EQ(str(events[0].if_contains("data")), R"({"status":"shipped","via":"cli"})");
  EXPECT_EQ(Events(dom, "orders", "order.paid").size(), 1u) << "both events stay in the log";

  // A presence channel through Herald's authorize endpoint (rule `room`: jwt), the user from
  // the claims of the token in the page's "Token" field.
  Click("auth-summary");  // opens "Private & presence channels"
  Fill("auth-url", AuthEndpoint());
  Fill("auth-token", AnnToken());
  Fill("channel", "presence-room");
  Click("subscribe");
  dom = WaitDom([](const Dom& d) { return ChipStatus(d, "presence-room") == "subscribed"; });
  ASSERT_EQ(ChipStatus(dom, "presence-room"), "subscribed") << json::serialize(dom) << "\n"
                                                            << browser_->output();

  // The counts: the page's connection, both channels, one subscriber each, one presence user.
  dom = WaitDom([](const Dom& d) {
    return str(Row(d, "presence-room").if_contains("users")) == "1" &&
           str(Row(d, "orders").if_contains("subscribers")) == "1";
  });
  EXPECT_GE(Number(At(dom, "counts", "connections")), 1) << json::serialize(dom);
  EXPECT_EQ(At(dom, "counts", "channels"), "2") << json::serialize(dom);
  EXPECT_EQ(str(Row(dom, "orders").if_contains("subscribers")), "1") << json::serialize(dom);
  EXPECT_EQ(str(Row(dom, "presence-room").if_contains("subscribers")), "1") << json::serialize(dom);
  EXPECT_EQ(str(Row(dom, "presence-room").if_contains("users")), "1") << json::serialize(dom);

  // One more event, so the screenshots show a live log.
  ASSERT_EQ(Herald({"publish", "presence-room", "-m",
                    R"({"event":"chat","data":{"from":"Ann","text":"hi"}})"})
                .exit_code,
            0);
  WaitDom([](const Dom& d) { return !Events(d, "presence-room", "chat").empty(); });

  Screenshot("console-desktop.png", 1280, 800);
  Screenshot("console-phone.png", 390, 844);
  Screenshot("console-phone-full.png", 390, 844, true);  // every card, to look at

  // Nothing failed, nothing was blocked, nothing left the machine.
  for (const char* bad : {"pageerror", "offsite", "csp", "error"})
    EXPECT_EQ(browser_->count(has_key(bad)), 0u) << bad << " lines:\n" << browser_->output();
  EXPECT_TRUE(Array(LastDom(), "errors").empty()) << json::serialize(LastDom());
  EXPECT_EQ(server_->log().find(kAppSecret), std::string::npos) << "the secret is never logged";
}

TEST_F(BrowserConsole, ShowsADisconnectAndReconnectsWithItsSubscriptions) {
  Do({{"op", "open"}, {"width", 1280}, {"height", 800}});
  Fill("channel", "orders");
  Click("subscribe");
  Dom dom = WaitDom([](const Dom& d) { return ChipStatus(d, "orders") == "subscribed"; });
  ASSERT_EQ(ChipStatus(dom, "orders"), "subscribed") << json::serialize(dom) << "\n"
                                                     << browser_->output();
  const std::string first_socket = str(dom.if_contains("socket_id"));

  // herald serve stops (SIGTERM: close 4200): the page says so and retries with a growing delay.
  EXPECT_EQ(server_->process().stop(), 0);
  server_.reset();
  dom = WaitDom([](const Dom& d) {
    return str(d.if_contains("state")) == "unavailable" &&
           str(d.if_contains("badge")).find("retry in") != std::string::npos;
  });
  ASSERT_EQ(str(dom.if_contains("state")), "unavailable") << json::serialize(dom);
  EXPECT_EQ(ChipStatus(dom, "orders"), "pending") << json::serialize(dom);
  ASSERT_FALSE(Array(dom, "errors").empty()) << "the disconnect is in the log";
  EXPECT_NE(json::serialize(Array(dom, "errors")).find("disconnected (4200)"), std::string::npos)
      << json::serialize(dom);
  Screenshot("console-disconnected.png", 1280, 800);

  // Back: the page reconnects by itself and subscribes again.
  StartServerWith(config_);
  dom = WaitDom(
      [&](const Dom& d) {
        return str(d.if_contains("state")) == "connected" &&
               str(d.if_contains("socket_id")) != first_socket &&
               ChipStatus(d, "orders") == "subscribed";
      },
      45s);
  ASSERT_EQ(ChipStatus(dom, "orders"), "subscribed") << json::serialize(dom) << "\n"
                                                     << browser_->output();
  const auto cli = Herald({"publish", "orders", "-m", R"({"after":"restart"})"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  dom = WaitDom([](const Dom& d) { return !Events(d, "orders", "message").empty(); });
  EXPECT_EQ(Events(dom, "orders", "message").size(), 1u) << json::serialize(dom);
  for (const char* bad : {"pageerror", "offsite", "csp", "error"})
    EXPECT_EQ(browser_->count(has_key(bad)), 0u) << bad << " lines:\n" << browser_->output();
}

}  // namespace
}  // namespace herald
