// The event envelope contract (docs/reference.md section 5) shared by pusher, redis and websocket.
#include <gtest/gtest.h>

#include "common/event_envelope.hpp"

namespace {

using herald::plugins::to_event;

TEST(EventEnvelope, ObjectWithEventAndDataChoosesTheEvent) {
  auto e = to_event(R"({"event":"OrderShipped","data":{"id":42}})", "message");
  EXPECT_EQ(e.event, "OrderShipped");
  EXPECT_EQ(e.data_json, R"({"id":42})");
  EXPECT_EQ(e.data_text, R"({"id":42})");
}

TEST(EventEnvelope, StringDataIsPassedAsItsContentWhereTheWireWantsAString) {
  auto e = to_event(R"({"event":"greeting","data":"hello \"you\""})", "message");
  EXPECT_EQ(e.event, "greeting");
  EXPECT_EQ(e.data_json, R"("hello \"you\"")");
  EXPECT_EQ(e.data_text, R"(hello "you")");
}

TEST(EventEnvelope, OtherJsonIsTheDefaultEventWithTheMessageVerbatim) {
  for (const char* message : {R"({"status":"purchased"})", R"({"event":1,"data":2})",
                              R"({"event":"x"})", R"([1,2])", "42", R"( {"a" : 1} )"}) {
    auto e = to_event(message, "message");
    EXPECT_EQ(e.event, "message") << message;
    EXPECT_EQ(e.data_json, message);
    EXPECT_EQ(e.data_text, message);
  }
}

TEST(EventEnvelope, PlainTextBecomesAJsonStringOnlyWhereJsonIsEmbedded) {
  auto e = to_event("hello \"world\"", "custom");
  EXPECT_EQ(e.event, "custom");
  EXPECT_EQ(e.data_json, R"("hello \"world\"")");
  EXPECT_EQ(e.data_text, "hello \"world\"");
}

}  // namespace

namespace {

using herald::plugins::is_socket_id;

TEST(EventEnvelope, SocketNamesTheClientToLeaveOut) {
  auto e = to_event(R"({"event":"e","data":1,"socket":"123.456"})", "message");
  EXPECT_EQ(e.socket, "123.456");
  EXPECT_EQ(to_event(R"({"event":"e","data":1,"socket":null})", "message").socket, "");
  EXPECT_EQ(to_event(R"({"event":"e","data":1})", "message").socket, "");
  // Given as it is: drivers refuse what is not a socket id.
  EXPECT_EQ(to_event(R"({"event":"e","data":1,"socket":12})", "message").socket, "12");
  EXPECT_TRUE(is_socket_id("1.2"));
  EXPECT_TRUE(is_socket_id("605085487.12345"));
  for (const char* bad : {"", "1", "1.", ".2", "1.2.3", "a.1", "1.b", "1 .2"})
    EXPECT_FALSE(is_socket_id(bad)) << bad;
}

}  // namespace
