// Spiral's tests/AuthorizationStatusTest, ported.
#include "auth/authorization_status.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald {
namespace {

using Topics = std::vector<std::string>;

TEST(AuthorizationStatusTest, IsSuccessful) {
  const AuthorizationStatus no(false, Topics{});
  EXPECT_FALSE(no.success());

  const AuthorizationStatus yes(true, Topics{});
  EXPECT_TRUE(yes.success());
}

TEST(AuthorizationStatusTest, GetsTopics) {
  const Topics topics = {"topic1", "topic2"};
  const AuthorizationStatus status(false, topics);
  ASSERT_TRUE(status.topics().has_value());
  EXPECT_EQ(*status.topics(), topics);
}

TEST(AuthorizationStatusTest, GetsAttributes) {
  // Spiral: ['foo' => 'bar'], carried as JSON object text.
  const AuthorizationStatus status(false, Topics{"topic1"}, R"({"foo":"bar"})");
  EXPECT_EQ(status.attributes(), R"({"foo":"bar"})");
}

TEST(AuthorizationStatusTest, GetsNullResponse) {
  const AuthorizationStatus status(false, Topics{"topic1"}, R"({"foo":"bar"})");
  EXPECT_FALSE(status.response().has_value());
  EXPECT_FALSE(status.has_response());
}

TEST(AuthorizationStatusTest, GetsResponse) {
  const AuthResponse response{401, {{"WWW-Authenticate", "Bearer"}}, "denied"};
  const AuthorizationStatus status(false, Topics{"topic1"}, R"({"foo":"bar"})", response);
  ASSERT_TRUE(status.response().has_value());
  EXPECT_EQ(*status.response(), response);
  EXPECT_TRUE(status.has_response());
}

}  // namespace
}  // namespace herald
