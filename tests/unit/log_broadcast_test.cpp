// Spiral's LogBroadcastTest and NullBroadcastTest, ported with their exact values. The driver
// classes are compiled in (unit tests load no plugin).
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>

#include "log/log_broadcast.hpp"
#include "null/null_broadcast.hpp"

namespace herald::drivers {
namespace {

using Views = std::vector<std::string_view>;

class LogBroadcastTest : public ::testing::Test {
 protected:
  LogBroadcastTest()
      : logger_(std::make_shared<spdlog::logger>(
            "test", std::make_shared<spdlog::sinks::ostream_sink_st>(out_))) {
    logger_->set_pattern("%l|%v");
    logger_->set_level(spdlog::level::trace);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(LogBroadcastTest, PublishMessageToTopicWithLoglevel) {
  LogBroadcast broadcast(logger_, spdlog::level::debug);
  broadcast.publish(Views{"topic"}, Views{"message"});
  EXPECT_EQ(lines(), std::vector<std::string>{
                         "debug|Broadcasting on channels [topic] with payload: message"});
}

TEST_F(LogBroadcastTest, PublishMessageToTopic) {
  LogBroadcast broadcast(logger_);  // INFO is the default level
  broadcast.publish(Views{"topic"}, Views{"message"});
  EXPECT_EQ(lines(), std::vector<std::string>{
                         "info|Broadcasting on channels [topic] with payload: message"});
}

TEST_F(LogBroadcastTest, PublishMessagesToTopic) {
  LogBroadcast broadcast(logger_);
  broadcast.publish(Views{"topic"}, Views{"message1", "message2"});
  EXPECT_EQ(lines(), (std::vector<std::string>{
                         "info|Broadcasting on channels [topic] with payload: message1",
                         "info|Broadcasting on channels [topic] with payload: message2"}));
}

TEST_F(LogBroadcastTest, PublishMessageToTopics) {
  LogBroadcast broadcast(logger_);
  broadcast.publish(Views{"topic1", "topic2"}, Views{"message"});
  EXPECT_EQ(lines(), std::vector<std::string>{
                         "info|Broadcasting on channels [topic1, topic2] with payload: message"});
}

TEST_F(LogBroadcastTest, PublishMessagesToTopics) {
  LogBroadcast broadcast(logger_);
  broadcast.publish(Views{"topic1", "topic2"}, Views{"message1", "message2"});
  EXPECT_EQ(lines(), (std::vector<std::string>{
                         "info|Broadcasting on channels [topic1, topic2] with payload: message1",
                         "info|Broadcasting on channels [topic1, topic2] with payload: message2"}));
}

TEST_F(LogBroadcastTest, EmptyMessageListLogsNothing) {
  LogBroadcast broadcast(logger_);
  broadcast.publish(Views{"topic"}, Views{});
  EXPECT_TRUE(lines().empty());
}

TEST_F(LogBroadcastTest, MessageIsWrittenVerbatimEvenWithFormatBraces) {
  LogBroadcast broadcast(logger_);
  broadcast.publish(Views{"order.1"}, Views{R"({"status":"{}"})"});
  EXPECT_EQ(lines(),
            std::vector<std::string>{
                R"(info|Broadcasting on channels [order.1] with payload: {"status":"{}"})"});
}

TEST(LogLevelNames, AcceptsPsr3AndSpdlogNames) {
  spdlog::level::level_enum level{};
  ASSERT_TRUE(parse_log_level("DEBUG", level));
  EXPECT_EQ(level, spdlog::level::debug);
  ASSERT_TRUE(parse_log_level("warning", level));
  EXPECT_EQ(level, spdlog::level::warn);
  ASSERT_TRUE(parse_log_level("emergency", level));
  EXPECT_EQ(level, spdlog::level::critical);
  EXPECT_FALSE(parse_log_level("loud", level));
}

// Spiral's NullBroadcastTest only checked that publish does not throw. This one drives the null
// driver through the C ABI the host calls (the descriptor HERALD_DRIVER builds for the plugin):
// it must accept every publish, the usual and the large path, with no side effect at all: no
// call into the host, no error text, no guard, validate, health or metrics entry point.
struct HostSpy {
  int calls = 0;
};

TEST(NullBroadcastTest, AcceptsEveryPublishAndTouchesNothing) {
  const herald_driver_descriptor d =
      herald::sdk::detail::make_descriptor<NullBroadcast>("null", "1.0.0", "Discards");
  EXPECT_EQ(d.authorize, nullptr);  // not a guard: the host's own topic rules decide
  EXPECT_EQ(d.validate, nullptr);   // no settings to check
  EXPECT_EQ(d.health, nullptr);     // always healthy
  EXPECT_EQ(d.metrics, nullptr);

  HostSpy spy;
  herald_host_api host{};
  host.struct_size = sizeof host;
  host.host_abi_version = HERALD_ABI_VERSION;
  host.ctx = &spy;
  host.log = [](void* ctx, int, herald_str) { ++static_cast<HostSpy*>(ctx)->calls; };
  host.log_enabled = [](void* ctx, int) {
    ++static_cast<HostSpy*>(ctx)->calls;
    return 1;
  };
  host.authorize_topic = [](void* ctx, const herald_request*, herald_str, herald_param_fn, void*,
                            herald_error*) {
    ++static_cast<HostSpy*>(ctx)->calls;
    return static_cast<int>(HERALD_TOPIC_DENY);
  };
  const herald_config_entry entry{{"driver", 6}, {"null", 4}, 1};
  herald_config config{};
  config.struct_size = sizeof config;
  config.connection = {"null", 4};
  config.entries = &entry;
  config.entry_count = 1;

  char text[256];
  std::memset(text, '#', sizeof text);  // any byte the driver writes shows
  herald_error err{sizeof(herald_error), text, sizeof text};
  void* instance = nullptr;
  ASSERT_EQ(d.create(&host, &config, &instance, &err), HERALD_OK);
  ASSERT_NE(instance, nullptr);

  const herald_str topic{"topic", 5}, message{"message", 7};
  EXPECT_EQ(d.publish(instance, &topic, 1, &message, 1, &err), HERALD_OK);
  EXPECT_EQ(d.publish(instance, &topic, 1, nullptr, 0, &err), HERALD_OK);  // no messages
  const std::vector<herald_str> many_topics(20, topic), many_messages(20, message);
  EXPECT_EQ(d.publish(instance, many_topics.data(), many_topics.size(), many_messages.data(),
                      many_messages.size(), &err),
            HERALD_OK);  // past the wrapper's 8-item fast path
  d.destroy(instance);

  EXPECT_EQ(spy.calls, 0);
  EXPECT_EQ(std::string(text, sizeof text), std::string(sizeof text, '#'));
}

}  // namespace
}  // namespace herald::drivers
