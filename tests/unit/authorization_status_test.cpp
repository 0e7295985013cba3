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

TEST(AuthorizationStatusTest, With) {
  const AuthorizationStatus status(false, std::nullopt);

  EXPECT_FALSE(status.has_response());
  const AuthResponse response{302, {{"Location", "/login"}}, ""};
  auto changed = status.with_response(response);
  ASSERT_TRUE(changed.has_response());
  EXPECT_EQ(*changed.response(), response);
  EXPECT_FALSE(changed.success());
  EXPECT_FALSE(changed.topics().has_value());

  EXPECT_FALSE(status.success());
  changed = status.with_success(true);
  EXPECT_TRUE(changed.success());
  EXPECT_FALSE(changed.has_response());

  EXPECT_FALSE(status.topics().has_value());
  changed = status.with_topics(Topics{"foo", "bar"});
  ASSERT_TRUE(changed.topics().has_value());
  EXPECT_EQ(*changed.topics(), (Topics{"foo", "bar"}));
  EXPECT_FALSE(changed.success());

  // Spiral: [] then ['foo', 'bar'] (a PHP list, so a JSON array).
  EXPECT_EQ(status.attributes(), "{}");
  changed = status.with_attributes(R"(["foo","bar"])");
  EXPECT_EQ(changed.attributes(), R"(["foo","bar"])");
  EXPECT_FALSE(changed.topics().has_value());

  // The original never changed.
  EXPECT_FALSE(status.success());
  EXPECT_FALSE(status.topics().has_value());
  EXPECT_EQ(status.attributes(), "{}");
  EXPECT_FALSE(status.has_response());
}

}  // namespace
}  // namespace herald
