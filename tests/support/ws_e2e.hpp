// Support for the `websocket` driver's end-to-end tests (tests/e2e/websocket_*_test.cpp): the
// real `herald serve` with a `websocket` connection on its own port, and node peers (pusher-js,
// a raw `ws` client, the npm `pusher` server SDK) that print JSON lines and take commands from a
// file the test appends to. Needs HERALD_TEST_BINARY, HERALD_TEST_PLUGIN_DIR,
// HERALD_TEST_SOURCE_DIR and HERALD_TEST_NODE_MODULES (tests/e2e/CMakeLists.txt defines them).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "../integration/cli_test_support.hpp"
#include "background_process.hpp"
#include "herald_server.hpp"
#include "http_test.hpp"
#include "test_files.hpp"

namespace herald::testing_support::ws_e2e {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

inline const fs::path kHeraldBinary = HERALD_TEST_BINARY;
inline const fs::path kPluginDir = HERALD_TEST_PLUGIN_DIR;
inline const fs::path kNodeModules = HERALD_TEST_NODE_MODULES;
inline const fs::path kScripts = fs::path(HERALD_TEST_SOURCE_DIR) / "tests" / "e2e" / "js";

inline constexpr const char* kAppId = "app1";
inline constexpr const char* kAppKey = "app-key";
inline constexpr const char* kAppSecret = "app-secret";
inline constexpr const char* kApiKey = "test-key";
inline constexpr const char* kJwtSecret = "a-test-secret-that-is-at-least-32-bytes-long";

using Line = json::object;
using Predicate = std::function<bool(const Line&)>;

// The complete lines of `text` that are JSON objects (a line still being written is skipped).
inline std::vector<Line> json_lines(const std::string& text) {
  std::vector<Line> lines;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) break;
    boost::system::error_code ec;
    json::value value = json::parse(std::string_view(text).substr(start, end - start), ec);
    if (!ec && value.is_object()) lines.push_back(std::move(value.as_object()));
    start = end + 1;
  }
  return lines;
}

inline std::string str(const json::value* value) {
  if (value == nullptr) return {};
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

// `line` is {"frame":{"event":event,...}} (and on `channel`, when given).
inline bool is_frame(const Line& line, const std::string& event, const std::string& channel = {}) {
  const auto* frame = line.if_contains("frame");
  if (frame == nullptr || !frame->is_object()) return false;
  const auto& f = frame->as_object();
  if (str(f.if_contains("event")) != event) return false;
  return channel.empty() || str(f.if_contains("channel")) == channel;
}
inline Predicate frame(const std::string& event, const std::string& channel = {}) {
  return [event, channel](const Line& line) { return is_frame(line, event, channel); };
}
// {"key": value} where value is a string (or any JSON, compared serialised).
inline Predicate has(const std::string& key, const std::string& value) {
  return [key, value](const Line& line) { return str(line.if_contains(key)) == value; };
}
inline Predicate has_key(const std::string& key) {
  return [key](const Line& line) { return line.contains(key); };
}

// A node script run in the background for the whole test.
class NodePeer {
 public:
  NodePeer(const fs::path& node, const fs::path& script, const TempDir& dir,
           const std::string& name, json::object options)
      : name_(name), commands_(dir / (name + ".commands")) {
    write_file(commands_, "");
    options["commands"] = commands_.string();
    BackgroundProcess::Options process_options;
    process_options.env = {{"NODE_PATH", kNodeModules.string()}};
    process_options.cwd = dir.path();
    process_options.log = dir / (name + ".log");
    process_ = std::make_unique<BackgroundProcess>(
        node, std::vector<std::string>{script.string(), json::serialize(options)},
        std::move(process_options));
  }

  const std::string& name() const noexcept { return name_; }
  std::string output() const { return process_->output(); }
  std::vector<Line> lines() const { return json_lines(output()); }
  BackgroundProcess& process() noexcept { return *process_; }

  // Appends a command; the peer runs it within ~20 ms.
  void send(const json::object& command) {
    std::ofstream out(commands_, std::ios::app | std::ios::binary);
    out << json::serialize(command) << '\n';
    out.flush();
    ++sent_;
  }
  // If it still runs: {"op":"exit"}, and a stop when it has not exited within `grace`.
  void exit(std::chrono::milliseconds grace = 15s) {
    if (!process_->running()) return;
    send({{"op", "exit"}});
    if (!process_->wait(grace)) process_->stop(5s);
  }
  // Sends a command and waits until the peer says it ran it ({"done":n}).
  bool run(const json::object& command, std::chrono::milliseconds timeout = 10s) {
    send(command);
    const auto n = static_cast<std::int64_t>(sent_);
    return wait_for(
               [n](const Line& l) {
                 const auto* done = l.if_contains("done");
                 return done != nullptr && done->is_int64() && done->as_int64() == n;
               },
               timeout)
        .has_value();
  }

  // The first line (from index `from` on) that matches, waiting up to `timeout`.
  std::optional<Line> wait_for(const Predicate& match, std::chrono::milliseconds timeout = 10s,
                               size_t from = 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto all = lines();
      for (size_t i = from; i < all.size(); ++i)
        if (match(all[i])) return all[i];
      if (std::chrono::steady_clock::now() > deadline || !process_->running()) {
        const auto last = lines();
        for (size_t i = from; i < last.size(); ++i)
          if (match(last[i])) return last[i];
        return std::nullopt;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  // Every line matching `match`.
  std::vector<Line> all(const Predicate& match) const {
    std::vector<Line> out;
    for (auto& line : lines())
      if (match(line)) out.push_back(line);
    return out;
  }
  size_t count(const Predicate& match) const { return all(match).size(); }
  // The number of lines printed so far (a position for wait_for's `from`).
  size_t mark() const { return lines().size(); }

 private:
  std::string name_;
  fs::path commands_;
  size_t sent_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

// A test with one `herald serve` whose default connection is `websocket` on its own port, plus
// `[connections.to_ws]`, Herald's `pusher` driver pointed at that port.
class WsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto node = find_program("node");
    ASSERT_TRUE(node) << "node not found (apt install nodejs)";
    node_ = *node;
    ASSERT_TRUE(fs::exists(kNodeModules / "pusher-js" / "package.json") &&
                fs::exists(kNodeModules / "ws" / "package.json") &&
                fs::exists(kNodeModules / "pusher" / "package.json"))
        << "run scripts/install-deps.sh (npm ci in tests/e2e)";
    ws_port_ = free_tcp_port();
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (const auto& peer : peers_)
      std::cerr << "----- " << peer->name() << " output:\n" << tail(peer->output()) << "\n";
    if (server_) std::cerr << "----- herald serve log:\n" << tail(server_->log()) << "\n";
  }

  static std::string tail(const std::string& text, size_t max = 30000) {
    return text.size() <= max ? text : "[...]\n" + text.substr(text.size() - max);
  }

  // The whole config; `ws_extra` is appended to [connections.websocket], `server_extra` to
  // [server].
  std::string Config(const std::string& ws_extra = {}, const std::string& server_extra = {}) const {
    const std::string port = std::to_string(ws_port_);
    return "default = \"websocket\"\nplugin_dirs = [\"" + kPluginDir.string() +
           "\"]\n\n"
           "[server]\napi_key = \"" +
           kApiKey + "\"\n" + server_extra +
           "\n"
           "[authorize]\npath = \"/broadcasting/auth\"\n"
           "[[authorize.topics]]\npattern = \"order.{id}\"\n"
           "rule = { jwt = { secret = \"" +
           kJwtSecret +
           "\", claim = \"sub\", equals = \"{id}\" } }\n"
           "[[authorize.topics]]\npattern = \"room\"\nrule = { allow = true }\n\n"
           "[connections.websocket]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:" +
           port + "\"\napp_id = \"" + kAppId + "\"\nkey = \"" + kAppKey + "\"\nsecret = \"" +
           kAppSecret + "\"\n" +
           // The test peers send X-Herald-User from loopback, as a trusted proxy would.
           "trusted_proxies = [\"127.0.0.1\"]\n" + ws_extra +
           "\n[connections.to_ws]\ndriver = \"pusher\"\napp_id = \"" + kAppId + "\"\nkey = \"" +
           kAppKey + "\"\nsecret = \"" + kAppSecret + "\"\nhost = \"127.0.0.1\"\nport = " + port +
           "\nscheme = \"http\"\n";
  }

  // Writes the config (dir_/broadcasting.toml) without starting anything.
  fs::path WriteConfig(const std::string& ws_extra = {}) {
    return dir_.write("broadcasting.toml", Config(ws_extra));
  }

  void StartServer(const std::string& ws_extra = {}) { StartServerWith(Config(ws_extra)); }
  // `herald serve` with this whole config.
  void StartServerWith(const std::string& config) {
    HeraldServer::Options options;
    options.extra_args = {"--log-level", "debug"};
    server_ = std::make_unique<HeraldServer>(dir_, config, std::move(options));
    server_->process().wait_for_port(ws_port_, 20s);
  }

  std::string AuthEndpoint() const { return server_->url() + "/broadcasting/auth"; }
  std::string WsUrl(const std::string& key = kAppKey) const {
    return "ws://127.0.0.1:" + std::to_string(ws_port_) + "/app/" + key +
           "?protocol=7&client=js&version=8.0.0";
  }

  // A pusher-js client (tests/e2e/js/ws_pusher_client.js). `options` may set channels, headers,
  // jwt, ...; port, key and the authorize endpoint are filled in.
  NodePeer& PusherJs(const std::string& name, json::object options = {}) {
    options["name"] = name;
    options["port"] = ws_port_;
    if (!options.contains("key")) options["key"] = kAppKey;
    if (!options.contains("auth_endpoint") && server_) options["auth_endpoint"] = AuthEndpoint();
    peers_.push_back(std::make_unique<NodePeer>(node_, kScripts / "ws_pusher_client.js", dir_, name,
                                                std::move(options)));
    return *peers_.back();
  }

  // A raw WebSocket client (tests/e2e/js/ws_raw_client.js).
  NodePeer& Raw(const std::string& name, const std::string& url = {}, json::object options = {}) {
    options["url"] = url.empty() ? WsUrl() : url;
    peers_.push_back(std::make_unique<NodePeer>(node_, kScripts / "ws_raw_client.js", dir_, name,
                                                std::move(options)));
    return *peers_.back();
  }

  // A pusher-js client connected and subscribed to every channel in `channels`.
  NodePeer& Subscribed(const std::string& name, const std::vector<std::string>& channels,
                       json::object options = {}) {
    json::array list;
    for (const auto& c : channels) list.emplace_back(c);
    options["channels"] = std::move(list);
    NodePeer& peer = PusherJs(name, std::move(options));
    for (const auto& c : channels)
      EXPECT_TRUE(peer.wait_for(has("subscribed", c), 15s)) << name << " not subscribed to " << c;
    return peer;
  }

  // The socket id pusher-js reported.
  static std::string SocketId(NodePeer& peer) {
    const auto line = peer.wait_for(has_key("connected"), 15s);
    return line ? str(line->if_contains("connected")) : std::string{};
  }

  // Runs tests/e2e/js/ws_pusher_rest.js (the npm `pusher` library) with these ops; one result
  // object per op, or an empty array when the script failed (the failure is reported).
  // `app` overrides app_id, key or secret (to test refusals).
  json::array Rest(const json::array& ops, const json::object& app = {}) {
    json::object input;
    input["app"] = {
        {"app_id", kAppId}, {"key", kAppKey}, {"secret", kAppSecret}, {"port", ws_port_}};
    for (const auto& [name, value] : app) input["app"].as_object()[name] = value;
    input["ops"] = ops;
    cli_test::RunOptions options;
    options.env = {{"NODE_PATH", kNodeModules.string()}};
    options.stdin_text = json::serialize(input);
    options.cwd = dir_.path();
    options.timeout = 30s;
    const auto r =
        cli_test::RunProcess(node_, {(kScripts / "ws_pusher_rest.js").string()}, options);
    boost::system::error_code ec;
    json::value out = json::parse(r.out, ec);
    EXPECT_TRUE(r.exit_code == 0 && !ec && out.is_array())
        << "ws_pusher_rest.js: exit " << r.exit_code << "\n"
        << r.out << r.err;
    if (ec || !out.is_array()) return {};
    return std::move(out.as_array());
  }
  json::object RestOne(const json::object& op) {
    auto results = Rest(json::array{op});
    if (results.empty() || !results[0].is_object()) return {};
    return std::move(results[0].as_object());
  }
  // GET through the library: the reply body (an object), or {} with a failure.
  json::object RestGet(const std::string& path, const json::object& params = {}) {
    json::object result = RestOne({{"op", "get"}, {"path", path}, {"params", params}});
    EXPECT_EQ(str(result.if_contains("status")), "200")
        << "GET " << path << ": " << json::serialize(result);
    const auto* body = result.if_contains("body");
    return body != nullptr && body->is_object() ? body->as_object() : json::object{};
  }

  HttpReply ApiPublish(const std::string& body) {
    return server_->post("/api/publish", body,
                         {{"Authorization", std::string("Bearer ") + kApiKey},
                          {"Content-Type", "application/json"}});
  }

  // `herald --config <dir>/broadcasting.toml ARGS...`, one-shot.
  cli_test::ProcessResult Herald(const std::vector<std::string>& args) {
    std::vector<std::string> full{"--config", (dir_ / "broadcasting.toml").string()};
    full.insert(full.end(), args.begin(), args.end());
    cli_test::RunOptions options;
    options.cwd = dir_.path();
    options.timeout = 30s;
    return cli_test::RunProcess(kHeraldBinary, full, options);
  }

  TempDir dir_{"herald-ws-e2e"};
  fs::path node_;
  std::uint16_t ws_port_ = 0;
  std::unique_ptr<HeraldServer> server_;
  std::vector<std::unique_ptr<NodePeer>> peers_;
};

}  // namespace herald::testing_support::ws_e2e
