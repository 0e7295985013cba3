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
