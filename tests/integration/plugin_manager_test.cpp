// Connections backed by real plugins, end to end: a TOML config -> Runtime -> BroadcastManager
// -> PluginDriverFactory -> DriverInstance -> the fixture plugins' code.
#include <dlfcn.h>
#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <latch>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <herald/driver.h>
#include <spdlog/spdlog.h>

#include "broadcast/broadcast.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "core/errors.hpp"
#include "plugin/driver_instance.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_support::read_lines;
using testing_support::TempDir;

const fs::path kFixtures = HERALD_TEST_FIXTURE_DIR;
const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;

fs::path fixture(const std::string& basename) {
  return kFixtures / ("herald_fixture_" + basename + ".so");
}

// Runtime options as the CLI would build them, with no real environment and a silent logger.
RuntimeOptions options_for(const fs::path& config_file) {
  RuntimeOptions options;
  options.config_file = config_file;
  options.plugin_dirs = {kFixtures, kPlugins};
  options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  options.logger = std::make_shared<spdlog::logger>("plugin-manager-test");  // no sinks
  return options;
}

// True while the shared object at `path` is mapped into this process.
bool is_loaded(const fs::path& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);
  return true;
}

// Spiral's \Stringable topic: an order, published as "order.<uuid>".
class Order {
 public:
  explicit Order(std::string uuid) : uuid_(std::move(uuid)) {}
  friend std::ostream& operator<<(std::ostream& out, const Order& order) {
    return out << "order." << order.uuid_;
  }

 private:
  std::string uuid_;
};

// A config with one `recorder` connection "rec" writing to rec.log next to the config.
class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.write("broadcasting.toml", R"(
default = "rec"

[connections.rec]
driver = "recorder"
path = "rec.log"

[connections.other]
driver = "recorder"
path = "other.log"

[connections.bad]
driver = "publish-throws"

[connections.boom]
driver = "create-throws"

[connections.cfg]
driver = "config-error"
url = 42
)");
    runtime_ = std::make_unique<Runtime>(options_for(config_));
  }

  BroadcastManager& manager() { return runtime_->manager(); }
  fs::path log() const { return dir_ / "rec.log"; }

  TempDir dir_;
  fs::path config_;
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(RecorderTest, PublishesEveryMessageToTheTopicList) {
  auto rec = manager().connection("rec");
  ASSERT_NE(rec, nullptr);
  const std::array<std::string_view, 2> topics = {"orders", "audit"};
  const std::array<std::string_view, 2> messages = {R"({"id":1})", "second message"};
  rec->publish(Texts(topics), Texts(messages));
  EXPECT_THAT(read_lines(log()),
              ElementsAre(R"(orders,audit|{"id":1})", "orders,audit|second message"));
}

TEST_F(RecorderTest, TheDefaultConnectionIsTheSameInstance) {
  auto by_name = manager().connection("rec");
  EXPECT_EQ(manager().connection(), by_name);
  EXPECT_EQ(manager().connection("rec"), by_name);
  const auto instance = std::dynamic_pointer_cast<DriverInstance>(by_name);
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(instance->plugin().info().name, "recorder");
  EXPECT_EQ(instance->plugin().info().version, "2.3.4");
  EXPECT_EQ(instance->plugin().info().path, fixture("recorder"));
}

TEST_F(RecorderTest, PublishesThroughTheTemplateOverloads) {
  auto rec = manager().connection("rec");
  const std::vector<std::string> topics = {"news", "sports"};
  const char* message = "hello";
  rec->publish(topics, message);
  rec->publish(Order("123e4567-e89b-12d3-a456-426614174000"), std::string("created"));
  rec->publish(std::string("single"), std::vector<std::string>{"m1", "m2"});
  rec->publish({"a", "b", "c"}, std::vector<Order>{Order("1"), Order("2")});
  EXPECT_THAT(read_lines(log()),
              ElementsAre("news,sports|hello", "order.123e4567-e89b-12d3-a456-426614174000|created",
                          "single|m1", "single|m2", "a,b,c|order.1", "a,b,c|order.2"));
}

TEST_F(RecorderTest, ZeroMessagesPublishNothing) {
  auto rec = manager().connection("rec");
  rec->publish("topic", std::vector<std::string>{});
  EXPECT_TRUE(read_lines(log()).empty());
  EXPECT_THROW(rec->publish(std::vector<std::string>{}, "no topic"), InvalidArgumentException);
}

TEST_F(RecorderTest, ACreateThatThrowsIsADriverException) {
  try {
    manager().connection("boom");
    FAIL() << "connection `boom` should not start";
  } catch (const ConfigException& e) {
    FAIL() << "a run-time failure is not a configuration error: " << e.what();
  } catch (const DriverException& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, StartsWith(config_.string() + ":"));  // where the connection is defined
    EXPECT_THAT(what, HasSubstr("connection `boom`"));
    EXPECT_THAT(what, HasSubstr("driver `create-throws`"));
    EXPECT_THAT(what, HasSubstr("backend unreachable"));
    EXPECT_EQ(e.status(), HERALD_E_FAILED);
  }
  // A failed start is not cached: the next attempt tries (and fails) again.
  EXPECT_THROW(manager().connection("boom"), DriverException);
  EXPECT_TRUE(manager().created().empty());
}

TEST_F(RecorderTest, AConfigErrorFromCreateIsAConfigException) {
  try {
    manager().connection("cfg");
    FAIL() << "connection `cfg` should not start";
  } catch (const ConfigException& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr("connection `cfg` (driver `config-error`)"));
    EXPECT_THAT(what, HasSubstr("`url` is required"));
  }
}

TEST_F(RecorderTest, APublishThatThrowsIsADriverExceptionAndTheProcessGoesOn) {
  auto bad = manager().connection("bad");
  try {
    bad->publish("topic", "message");
    FAIL() << "publish should have failed";
  } catch (const DriverException& e) {
    EXPECT_STREQ(e.what(),
                 "connection `bad` (driver `publish-throws`): publish failed: peer said no");
    EXPECT_EQ(e.status(), HERALD_E_FAILED);
  }
  // The failing connection stays usable (and keeps failing); others are unaffected.
  EXPECT_THROW(bad->publish("topic", "again"), DriverException);
  manager().connection("other")->publish("still", "working");
  EXPECT_THAT(read_lines(dir_ / "other.log"), ElementsAre("still|working"));
}

TEST_F(RecorderTest, CheckRunsEachPluginsValidate) {
  EXPECT_TRUE(runtime_->check().empty());

  const fs::path config = dir_.write("nopath.toml", R"(
default = "rec"
[connections.rec]
driver = "recorder"
)");
  Runtime runtime(options_for(config));
  const std::vector<std::string> problems = runtime.check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("`path` is required"));
  EXPECT_THROW(runtime.manager().connection("rec"), ConfigException);
}

// ---- driverAliases naming a .so path ----------------------------------------------------------

TEST(PluginManager, DriverAliasesMayNameASharedObjectPath) {
  TempDir dir;
  const fs::path beside = dir.copy(fixture("recorder"), "rec_beside.so");
  const fs::path nested = dir.copy(fixture("recorder"), "lib/rec_nested.so");
  const fs::path config = dir.write("broadcasting.toml", R"(
[driverAliases]
absolute = ')" + fixture("recorder").string() + R"('
beside = "rec_beside.so"
nested = "lib/rec_nested.so"
missing = "lib/absent.so"

[connections.a]
driver = "absolute"
path = "a.log"

[connections.b]
driver = "beside"
path = "b.log"

[connections.c]
driver = "nested"
path = "c.log"

[connections.direct]
driver = "./lib/rec_nested.so"
path = "direct.log"

[connections.gone]
driver = "missing"
)");
  Runtime runtime(options_for(config));
  auto plugin_path = [&](const char* name) {
    auto instance = std::dynamic_pointer_cast<DriverInstance>(runtime.manager().connection(name));
    return instance ? instance->plugin().info().path : fs::path();
  };
  EXPECT_TRUE(fs::equivalent(plugin_path("a"), fixture("recorder")));
  EXPECT_TRUE(fs::equivalent(plugin_path("b"), beside));
  EXPECT_TRUE(fs::equivalent(plugin_path("c"), nested));
  EXPECT_TRUE(fs::equivalent(plugin_path("direct"), nested));

  for (const char* name : {"a", "b", "c", "direct"}) {
    runtime.manager().connection(name)->publish("via", name);
    EXPECT_THAT(read_lines(dir / (std::string(name) + ".log")),
                ElementsAre("via|" + std::string(name)));
  }

  try {
    runtime.manager().connection("gone");
    FAIL() << "a driverAliases path to a missing file should fail";
  } catch (const PluginException& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, StartsWith(config.string() + ":"));  // the alias' position
    EXPECT_THAT(what,
                HasSubstr((dir / "lib/absent.so").string() + ": cannot be opened: no such file"));
  }
}

// ---- the library outlives the runtime while an instance is held -------------------------------

TEST(PluginManager, AHeldInstanceKeepsItsLibraryLoaded) {
  TempDir dir;
  // A private copy, so nothing else in this process has it loaded.
  const fs::path library = dir.copy(fixture("recorder"), "held_recorder.so");
  const fs::path config = dir.write("broadcasting.toml", R"(
[connections.held]
driver = "held_recorder.so"
path = "held.log"
)");
  ASSERT_FALSE(is_loaded(library));

  std::shared_ptr<Broadcast> held;
  {
    auto runtime = std::make_unique<Runtime>(options_for(config));
    held = runtime->manager().connection("held");
    held->publish("before", "reset");
    runtime->manager().reset();
    EXPECT_TRUE(runtime->manager().created().empty());
    runtime.reset();  // manager, factory and catalog are gone
  }
  ASSERT_TRUE(is_loaded(library));
  held->publish("after", "reset");  // runs the plugin's code: a use-after-unload would crash
  EXPECT_THAT(read_lines(dir / "held.log"), ElementsAre("before|reset", "after|reset"));

  held.reset();  // the last user: destroy the instance, then unload the library
  EXPECT_FALSE(is_loaded(library));
}

// ---- a guard plugin and the host's topic rules ------------------------------------------------

class GuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.write("broadcasting.toml", R"(
default = "guard"

[[authorize.topics]]
pattern = "order.{id}"
rule = { header = "X-User", equals = "{id}" }

[connections.guard]
driver = "fixture-guard"

[connections.rec]
driver = "recorder"
path = "rec.log"
)");
    runtime_ = std::make_unique<Runtime>(options_for(config_));
  }

  static AuthRequest request(std::string query, std::string user) {
    AuthRequest r;
    r.method = "POST";
    r.path = "/broadcasting/auth";
    r.query = std::move(query);
    r.headers = {{"Accept", "application/json"}, {"X-User", std::move(user)}};
    r.remote_address = "127.0.0.1:5555";
    return r;
  }

  Guard* guard() {
    Guard* g = runtime_->manager().connection("guard")->guard();
    EXPECT_NE(g, nullptr);
    return g;
  }

  TempDir dir_;
  fs::path config_;
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(GuardTest, TheConfigsTopicRulesAreRegistered) {
  EXPECT_EQ(runtime_->topics().size(), 1u);
  TopicMatch match;
  EXPECT_EQ(runtime_->topics().authorize(request("", "7"), "order.7", &match),
            TopicDecision::allow);
  EXPECT_THAT(match.params, ElementsAre(std::pair<std::string, std::string>("id", "7")));
  EXPECT_EQ(runtime_->topics().authorize(request("", "8"), "order.7"), TopicDecision::deny);
  EXPECT_EQ(runtime_->topics().authorize(request("", "7"), "chat.7"), TopicDecision::no_match);
}

TEST_F(GuardTest, OnlyAGuardPluginIsAGuard) {
  EXPECT_NE(runtime_->manager().connection("guard")->guard(), nullptr);
  EXPECT_EQ(runtime_->manager().connection("rec")->guard(), nullptr);
}

TEST_F(GuardTest, AllowsWhenTheRuleMatchesTheHeader) {
  Guard* g = guard();
  ASSERT_NE(g, nullptr);
  const AuthorizationStatus status = g->authorize(request("channel_name=order.7", "7"));
  EXPECT_TRUE(status.success());
  ASSERT_TRUE(status.topics().has_value());
  EXPECT_THAT(*status.topics(), ElementsAre("order.7"));
  EXPECT_EQ(status.attributes(), R"({"params":1})");
  EXPECT_FALSE(status.has_response());

  // The channel is found among other query parameters too.
  EXPECT_TRUE(g->authorize(request("a=b&channel_name=order.7", "7")).success());
}

TEST_F(GuardTest, DeniesWhenTheHeaderDiffers) {
  Guard* g = guard();
  ASSERT_NE(g, nullptr);
  const AuthorizationStatus status = g->authorize(request("channel_name=order.7", "8"));
  EXPECT_FALSE(status.success());
  ASSERT_TRUE(status.topics().has_value());
  EXPECT_THAT(*status.topics(), ElementsAre("order.7"));
  EXPECT_FALSE(status.has_response());
}

TEST_F(GuardTest, DeniesATopicNoPatternMatches) {
  Guard* g = guard();
  ASSERT_NE(g, nullptr);
  const AuthorizationStatus status = g->authorize(request("channel_name=chat.7", "7"));
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.attributes(), R"({"params":0})");
}

TEST_F(GuardTest, ReturnsTheGuardsOwnResponse) {
  Guard* g = guard();
  ASSERT_NE(g, nullptr);
  const AuthorizationStatus status = g->authorize(request("channel_name=custom", "7"));
  ASSERT_TRUE(status.has_response());
  EXPECT_EQ(status.response()->status, 418);
  EXPECT_EQ(status.response()->body, "teapot");
  EXPECT_THAT(status.response()->headers,
              ElementsAre(std::pair<std::string, std::string>("X-Fixture", "yes")));
}

// ---- concurrency -----------------------------------------------------------------------------

TEST_F(RecorderTest, ConcurrentUsersShareOneInstanceAndLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPublishes = 500;
  std::array<std::shared_ptr<Broadcast>, kThreads> seen;
  std::atomic<int> failures{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();  // everyone asks for the connection at the same time
      try {
        seen[t] = manager().connection("rec");
        const std::string topic = "t" + std::to_string(t);
        for (int i = 0; i < kPublishes; ++i) seen[t]->publish(topic, "m" + std::to_string(i));
      } catch (const std::exception&) {
        failures.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_NE(seen[0], nullptr);
  for (const auto& instance : seen) EXPECT_EQ(instance, seen[0]);
  EXPECT_EQ(manager().created().size(), 1u);

  const std::vector<std::string> lines = read_lines(log());
  EXPECT_EQ(lines.size(), static_cast<size_t>(kThreads * kPublishes));
  std::set<std::string> expected;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kPublishes; ++i)
      expected.insert("t" + std::to_string(t) + "|m" + std::to_string(i));
  EXPECT_EQ(std::set<std::string>(lines.begin(), lines.end()), expected);  // no torn lines
}

}  // namespace
}  // namespace herald
