// Spiral's BroadcastManagerTest, ported with its exact values, plus thread-safety.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "broadcast/broadcast_manager.hpp"
#include "core/errors.hpp"

namespace herald {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::Field;
using ::testing::Return;

class NoopBroadcast : public Broadcast {
 public:
  using Broadcast::publish;
  void publish(Texts, Texts) override {}
};

class MockFactory : public DriverFactory {
 public:
  MOCK_METHOD(std::shared_ptr<Broadcast>, make, (const ConnectionConfig& config), (override));
};

EnvLookup no_env() {
  return [](std::string_view) { return std::optional<std::string>(); };
}

// Spiral's setUp: default `log`, aliases, driverAliases and three connections.
constexpr const char* kConfig = R"(
default = "log"
[aliases]
firebase = "log"
[driverAliases]
pusher = "pusher-driver-class"
[connections.log]
driver = "pusher-driver-class"
foo = "bar"
[connections.null]
driver = "null-driver-class"
foo = "baz"
[connections.inMemory]
driver = "pusher"
bar = "baz"
)";

class BroadcastManagerTest : public ::testing::Test {
 protected:
  BroadcastManagerTest()
      : factory_(std::make_shared<MockFactory>()),
        manager_(std::make_shared<const BroadcastConfig>(
                     BroadcastConfig::parse(kConfig, "broadcasting.toml", "/cfg", no_env())),
                 factory_) {}

  static toml::table table(std::initializer_list<std::pair<const char*, const char*>> kv) {
    toml::table t;
    for (const auto& [k, v] : kv) t.insert(k, v);
    return t;
  }

  std::shared_ptr<MockFactory> factory_;
  BroadcastManager manager_;
};

auto IsConfig(const std::string& driver, const toml::table& options) {
  return AllOf(Field(&ConnectionConfig::driver, driver),
               Field(&ConnectionConfig::options, options));
}

TEST_F(BroadcastManagerTest, GetDefaultConnection) {
  auto instance = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(IsConfig("pusher-driver-class",
                                       table({{"driver", "pusher-driver-class"}, {"foo", "bar"}}))))
      .Times(1)
      .WillOnce(Return(instance));
  EXPECT_EQ(manager_.connection(), instance);
}

TEST_F(BroadcastManagerTest, GetConnectionByName) {
  auto instance = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(IsConfig("null-driver-class",
                                       table({{"driver", "null-driver-class"}, {"foo", "baz"}}))))
      .WillOnce(Return(instance));
  EXPECT_EQ(manager_.connection("null"), instance);
}

TEST_F(BroadcastManagerTest, GetConnectionWithDriverAlias) {
  auto instance = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(IsConfig("pusher-driver-class",
                                       table({{"driver", "pusher-driver-class"}, {"bar", "baz"}}))))
      .WillOnce(Return(instance));
  EXPECT_EQ(manager_.connection("inMemory"), instance);
}

TEST_F(BroadcastManagerTest, GetConnectionByAlias) {
  auto instance = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(IsConfig("pusher-driver-class",
                                       table({{"driver", "pusher-driver-class"}, {"foo", "bar"}}))))
      .WillOnce(Return(instance));
  EXPECT_EQ(manager_.connection("firebase"), instance);
}

TEST_F(BroadcastManagerTest, ConnectionShouldBeCreatedOnlyOnce) {
  auto log = std::make_shared<NoopBroadcast>();
  auto null = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(Field(&ConnectionConfig::name, "log"))).WillOnce(Return(log));
  EXPECT_CALL(*factory_, make(Field(&ConnectionConfig::name, "null"))).WillOnce(Return(null));
  EXPECT_EQ(manager_.connection(), log);
  EXPECT_EQ(manager_.connection(), log);
  EXPECT_EQ(manager_.connection("firebase"), log);  // the alias shares the cached instance
  EXPECT_EQ(manager_.connection("null"), null);
  EXPECT_EQ(manager_.connection("null"), null);
}

TEST_F(BroadcastManagerTest, UndefinedConnectionKeepsSpiralsMessageWithTheFile) {
  EXPECT_CALL(*factory_, make(_)).Times(0);
  try {
    manager_.connection("foo");
    FAIL() << "expected ConfigException";
  } catch (const ConfigException& e) {
    EXPECT_STREQ(e.what(), "broadcasting.toml: Config for connection `foo` is not defined.");
  }
}

TEST_F(BroadcastManagerTest, AliasesAreAppliedOnceNotRecursively) {
  constexpr const char* config = R"(
[aliases]
a = "b"
b = "c"
[connections.b]
driver = "x"
[connections.c]
driver = "y"
)";
  auto factory = std::make_shared<MockFactory>();
  BroadcastManager manager(std::make_shared<const BroadcastConfig>(BroadcastConfig::parse(
                               config, "broadcasting.toml", "/cfg", no_env())),
                           factory);
  EXPECT_CALL(*factory, make(Field(&ConnectionConfig::name, "b")))
      .WillOnce(Return(std::make_shared<NoopBroadcast>()));
  manager.connection("a");
}

TEST_F(BroadcastManagerTest, FactoryFailureIsNotCachedAndPropagates) {
  auto instance = std::make_shared<NoopBroadcast>();
  EXPECT_CALL(*factory_, make(_))
      .WillOnce([](const ConnectionConfig&) -> std::shared_ptr<Broadcast> {
        throw DriverException("cannot start", -1);
      })
      .WillOnce(Return(instance));
  EXPECT_THROW(manager_.connection("null"), DriverException);
  EXPECT_EQ(manager_.connection("null"), instance);
}

TEST_F(BroadcastManagerTest, ConcurrentFirstUseCreatesOneInstance) {
  std::atomic<int> made{0};
  EXPECT_CALL(*factory_, make(_)).WillRepeatedly([&made](const ConnectionConfig&) {
    ++made;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return std::static_pointer_cast<Broadcast>(std::make_shared<NoopBroadcast>());
  });
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<Broadcast>> seen(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { seen[i] = manager_.connection(i % 2 ? "firebase" : "log"); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 1);
  for (const auto& s : seen) EXPECT_EQ(s, seen[0]);
}

TEST_F(BroadcastManagerTest, ResetDropsCachedInstances) {
  EXPECT_CALL(*factory_, make(_)).Times(2).WillRepeatedly([](const ConnectionConfig&) {
    return std::static_pointer_cast<Broadcast>(std::make_shared<NoopBroadcast>());
  });
  auto first = manager_.connection("null");
  EXPECT_EQ(manager_.created().size(), 1u);
  manager_.reset();
  EXPECT_TRUE(manager_.created().empty());
  EXPECT_NE(manager_.connection("null"), first);
}

}  // namespace
}  // namespace herald
