// What the `redis` driver writes (plugins/redis/redis_wire.hpp): the exact RESP bytes of one
// pipelined call, and Laravel's broadcast payload built with the shared event envelope.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "redis/redis_wire.hpp"

namespace {

using herald::redis::append_publishes;
using herald::redis::Format;
using herald::redis::laravel_payload;
using herald::redis::Payloads;

std::string publish(std::string_view channel, std::string_view payload) {
  return "*3\r\n$7\r\nPUBLISH\r\n$" + std::to_string(channel.size()) + "\r\n" +
         std::string(channel) + "\r\n$" + std::to_string(payload.size()) + "\r\n" +
         std::string(payload) + "\r\n";
}

TEST(RedisWire, OnePublishPerMessageAndTopicMessagesOuter) {
  const std::vector<std::string_view> topics{"a", "bb"};
  const std::vector<std::string_view> messages{"one", "two"};
  std::string out;
  EXPECT_EQ(append_publishes(out, "", topics, messages), 4u);
  EXPECT_EQ(
      out, publish("a", "one") + publish("bb", "one") + publish("a", "two") + publish("bb", "two"));
}

TEST(RedisWire, PrefixIsPrependedToEveryChannel) {
  const std::vector<std::string_view> topics{"orders.1"};
  const std::vector<std::string_view> messages{"x"};
  std::string out = "kept";
  append_publishes(out, "laravel_database_", topics, messages);
  EXPECT_EQ(out, "kept" + publish("laravel_database_orders.1", "x"));
}

TEST(RedisWire, PayloadsAreBinarySafe) {
  const std::string binary("line\r\nbreak\0nul \xC3\xA9", 18);
  const std::vector<std::string_view> topics{"t"};
  const std::vector<std::string_view> messages{binary, ""};
  std::string out;
  append_publishes(out, "", topics, messages);
  EXPECT_EQ(out, publish("t", binary) + publish("t", ""));
  EXPECT_NE(out.find("$18\r\n"), std::string::npos);
  EXPECT_NE(out.find("$0\r\n\r\n"), std::string::npos);
}

TEST(RedisWire, NoMessagesNoCommands) {
  const std::vector<std::string_view> topics{"t"};
  std::string out;
  EXPECT_EQ(append_publishes(out, "", topics, {}), 0u);
  EXPECT_EQ(out, "");
}

TEST(RedisWire, LaravelPayloadOfAnEnvelope) {
  EXPECT_EQ(laravel_payload(R"({"event":"OrderShipped","data":{"id":42}})", "message"),
            R"({"event":"OrderShipped","data":{"id":42},"socket":null})");
}

TEST(RedisWire, LaravelPayloadOfOtherJsonUsesTheDefaultEventAndKeepsTheJson) {
  EXPECT_EQ(laravel_payload(R"({"status":"purchased"})", "message"),
            R"({"event":"message","data":{"status":"purchased"},"socket":null})");
  EXPECT_EQ(laravel_payload("[1,2]", "App\\Events\\Ping"),
            R"({"event":"App\\Events\\Ping","data":[1,2],"socket":null})");
}

TEST(RedisWire, LaravelPayloadOfPlainTextIsAJsonString) {
  EXPECT_EQ(laravel_payload("hello \"world\"\n", "message"),
            R"({"event":"message","data":"hello \"world\"\n","socket":null})");
}

TEST(RedisWire, LaravelPayloadIsValidJsonWithTheExpectedMembers) {
  for (std::string_view message :
       {std::string_view(R"({"event":"a\"b","data":"x"})"), std::string_view("not json {"),
        std::string_view(" {\"k\" : [1, {\"n\": null}]} ")}) {
    const boost::json::value v = boost::json::parse(laravel_payload(message, "ev"));
    const boost::json::object& o = v.as_object();
    EXPECT_EQ(o.size(), 3u) << message;
    EXPECT_TRUE(o.at("event").is_string()) << message;
    EXPECT_TRUE(o.contains("data")) << message;
    EXPECT_TRUE(o.at("socket").is_null()) << message;
  }
  EXPECT_EQ(boost::json::parse(laravel_payload(R"({"event":"a\"b","data":"x"})", "ev"))
                .at("event")
                .as_string(),
            "a\"b");
}

TEST(RedisWire, PayloadsAreTheMessagesThemselvesInRawFormat) {
  const std::vector<std::string_view> messages{R"({"event":"e","data":1})", "plain"};
  const Payloads raw(Format::raw, "message", messages);
  ASSERT_EQ(raw.views().size(), 2u);
  EXPECT_EQ(raw.views()[0], messages[0]);
  EXPECT_EQ(raw.views()[0].data(), messages[0].data()) << "raw payloads are not copied";
  EXPECT_EQ(raw.views()[1], "plain");

  const Payloads laravel(Format::laravel, "message", messages);
  ASSERT_EQ(laravel.views().size(), 2u);
  EXPECT_EQ(laravel.views()[0], R"({"event":"e","data":1,"socket":null})");
  EXPECT_EQ(laravel.views()[1], R"({"event":"message","data":"plain","socket":null})");
}

}  // namespace
