// Spiral's LogBroadcastTest and NullBroadcastTest, ported with their exact values. The driver
// classes are compiled in (unit tests load no plugin).
#include <gtest/gtest.h>

#include <sstream>

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
  EXPECT_EQ(lines(),
            (std::vector<std::string>{
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
  EXPECT_EQ(lines(), std::vector<std::string>{
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

TEST(NullBroadcastTest, PublishMessageToTopic) {
  NullBroadcast broadcast(herald::sdk::Host(nullptr), herald::sdk::Config(nullptr));
  Views topics{"topic"}, messages{"message"};
  EXPECT_NO_THROW(broadcast.publish(topics, messages));
}

}  // namespace
}  // namespace herald::drivers
