// The `redis` driver with format = "laravel", end to end through the real stack a Laravel app
// uses: `herald publish` (the real binary and plugin) -> redis-server -> laravel-echo-server
// 1.6.3 (npm) -> a socket.io-client v2 (npm) subscribed to a public channel, which prints every
// event it receives (tests/e2e/js/redis_echo_client.js).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "../integration/cli_test_support.hpp"
#include "background_process.hpp"
#include "redis_server.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cli_test::ProcessResult;
using cli_test::RunOptions;
using cli_test::RunProcess;
using ::testing::ElementsAre;
using testing_support::BackgroundProcess;
using testing_support::find_program;
using testing_support::free_tcp_port;
using testing_support::RedisServer;
using testing_support::split_lines;
using testing_support::TempDir;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;
const fs::path kNodeModules = HERALD_TEST_NODE_MODULES;
const fs::path kScripts = fs::path(HERALD_TEST_SOURCE_DIR) / "tests" / "e2e" / "js";

class RedisLaravelEchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto node_path = find_program("node");
    ASSERT_TRUE(node_path) << "node not found (apt install nodejs)";
    node_ = *node_path;
    ASSERT_TRUE(fs::exists(kNodeModules / "laravel-echo-server" / "bin" / "server.js"))
        << "run scripts/install-deps.sh (npm ci in tests/e2e)";
  }

  // laravel-echo-server reading `redis` with the key prefix Laravel uses, in dev mode so it
  // logs each join (the readiness signal for a subscription, which has no reply).
  void StartEchoServer(const RedisServer& redis, const std::string& key_prefix) {
    echo_port_ = free_tcp_port();
    const boost::json::value config = {
        {"authHost", "http://127.0.0.1:9"},
        {"authEndpoint", "/broadcasting/auth"},
        {"clients", boost::json::array()},
        {"database", "redis"},
        {"databaseConfig",
         {{"redis", {{"host", "127.0.0.1"}, {"port", redis.port()}, {"keyPrefix", key_prefix}}},
          {"publishPresence", false}}},
        {"devMode", true},
        {"host", "127.0.0.1"},
        {"port", echo_port_},
        {"protocol", "http"},
        {"socketio", boost::json::object()},
        {"subscribers", {{"http", false}, {"redis", true}}},
    };
    const fs::path file = dir_.write("laravel-echo-server.json", boost::json::serialize(config));
    BackgroundProcess::Options options;
    options.cwd = dir_.path();
    options.log = dir_ / "echo-server.log";
    echo_ = std::make_unique<BackgroundProcess>(
        node_,
        std::vector<std::string>{
            (kNodeModules / "laravel-echo-server" / "bin" / "server.js").string(), "start",
            "--config=" + file.string()},
        options);
    echo_->wait_for_port(echo_port_, 30s);
    ASSERT_TRUE(echo_->wait_for_output("Listening for redis events", 30s)) << echo_->output();
  }

  // The socket.io client, subscribed to `channel` once this returns; exits after `count` events.
  std::unique_ptr<BackgroundProcess> StartClient(const std::string& channel, int count) {
    BackgroundProcess::Options options;
    options.env = {{"NODE_PATH", kNodeModules.string()}};
    options.log = dir_ / ("client-" + channel + ".log");
    auto client = std::make_unique<BackgroundProcess>(
        node_,
        std::vector<std::string>{(kScripts / "redis_echo_client.js").string(),
                                 "http://127.0.0.1:" + std::to_string(echo_port_), channel,
                                 std::to_string(count), "60000"},
        options);
    const bool joined = echo_->wait_for_output("joined channel: " + channel, 30s);
    EXPECT_TRUE(joined) << "echo server:\n" << echo_->output() << "\nclient:\n" << client->output();
    return client;
  }

  ProcessResult HeraldPublish(const RedisServer& redis, const std::string& settings,
                              const std::vector<std::string>& args) {
    const fs::path config = dir_.write(
        "broadcasting.toml", "default = \"laravel\"\nplugin_dirs = [\"" + kPlugins.string() +
                                 "\"]\n\n[connections.laravel]\ndriver = \"redis\"\n"
                                 "url = \"" +
                                 redis.url() + "\"\nformat = \"laravel\"\n" + settings);
    std::vector<std::string> full{"--config", config.string(), "publish"};
    full.insert(full.end(), args.begin(), args.end());
    RunOptions options;
    options.cwd = dir_.path();
    return RunProcess(kHerald, full, options);
  }

  // The client's event lines (its first line says it connected).
  static std::vector<std::string> Events(BackgroundProcess& client) {
    const auto code = client.wait(60s);
    EXPECT_EQ(code, 0) << client.output();
    auto lines = split_lines(client.output());
    EXPECT_FALSE(lines.empty());
    if (!lines.empty() && lines.front() == R"({"connected":true})") lines.erase(lines.begin());
    return lines;
  }

  TempDir dir_{"herald-redis-echo"};
  fs::path node_;
  std::uint16_t echo_port_ = 0;
  std::unique_ptr<BackgroundProcess> echo_;
};

TEST_F(RedisLaravelEchoTest, SocketIoClientReceivesTheEventsHeraldPublished) {
  RedisServer redis;
  StartEchoServer(redis, "laravel_database_");
  auto client = StartClient("orders", 3);

  const ProcessResult r =
      HeraldPublish(redis, "prefix = \"laravel_database_\"\n",
                    {"orders", "-m", R"({"event":"OrderShipped","data":{"id":42,"total":9.5}})",
                     "-m", R"({"status":"purchased"})", "-m", "plain text"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");

  // The envelope picks the event; anything else is the default event `message` with the
  // message as data (docs/reference.md section 5).
  EXPECT_THAT(
      Events(*client),
      ElementsAre(R"({"event":"OrderShipped","channel":"orders","data":{"id":42,"total":9.5}})",
                  R"({"event":"message","channel":"orders","data":{"status":"purchased"}})",
                  R"({"event":"message","channel":"orders","data":"plain text"})"));
}

TEST_F(RedisLaravelEchoTest, CustomDefaultEventAndSeveralChannelsInOneCall) {
  RedisServer redis;
  StartEchoServer(redis, "app_");
  auto news = StartClient("news", 1);
  auto sport = StartClient("sport", 1);

  const ProcessResult r = HeraldPublish(redis, "prefix = \"app_\"\nevent = 'App\\Events\\Update'\n",
                                        {"news", "sport", "-m", R"({"headline":"hi"})"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  EXPECT_THAT(
      Events(*news),
      ElementsAre(R"({"event":"App\\Events\\Update","channel":"news","data":{"headline":"hi"}})"));
  EXPECT_THAT(
      Events(*sport),
      ElementsAre(R"({"event":"App\\Events\\Update","channel":"sport","data":{"headline":"hi"}})"));
}

}  // namespace
}  // namespace herald
