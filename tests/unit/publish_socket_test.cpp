// X-Socket-ID of POST /api/publish (host/src/server/api_service.hpp add_socket): the excluded
// client travels to the drivers as the event envelope's `socket`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "server/api_service.hpp"

namespace herald {
namespace {

TEST(PublishSocket, AddsTheSocketToEveryEnvelope) {
  std::vector<std::string> messages{R"({"event":"a","data":{"x":1}})", R"({"event":"b","data":"s"})"};
  add_socket(messages, "123.456");
  EXPECT_EQ(messages[0], R"({"event":"a","data":{"x":1},"socket":"123.456"})");
  EXPECT_EQ(messages[1], R"({"event":"b","data":"s","socket":"123.456"})");
}

TEST(PublishSocket, RefusesABadSocketIdOrAMessageThatIsNoEnvelope) {
  std::vector<std::string> ok{R"({"event":"a","data":1})"};
  for (const char* bad : {"", "abc", "1.", "1.2.3", "12"})
    EXPECT_THROW(add_socket(ok, bad), InvalidArgumentException) << bad;
  for (const char* message : {R"("plain")", R"({"data":1})", R"({"event":"a"})", "not json"}) {
    std::vector<std::string> one{message};
    EXPECT_THROW(add_socket(one, "1.2"), InvalidArgumentException) << message;
  }
}

}  // namespace
}  // namespace herald
