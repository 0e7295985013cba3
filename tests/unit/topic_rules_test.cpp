// `[[authorize.topics]]` rules: allow, header + equals, `{param}` substitution, error messages.
#include "auth/topic_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/errors.hpp"

namespace herald {
namespace {

const SourcePosition kWhere{"config/broadcasting.toml", 12, 1};

// A rule written as TOML, e.g. R"({ allow = true })".
TopicRuleConfig rule(std::string pattern, std::string_view rule_toml,
                     SourcePosition where = kWhere) {
  toml::table doc = toml::parse("rule = " + std::string(rule_toml));
  return {std::move(pattern), *doc["rule"].as_table(), std::move(where)};
}

AuthRequest with_header(std::string name, std::string value) {
  AuthRequest request;
  request.headers.emplace_back(std::move(name), std::move(value));
  return request;
}

std::string rule_error(std::string_view rule_toml, SourcePosition where = kWhere) {
  try {
    make_topic_rule(rule("order.{id}", rule_toml, std::move(where)));
  } catch (const ConfigException& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(TopicRuleTest, AllowIsConstant) {
  const TopicMatch match{"order.5", {{"id", "5"}}, {"5"}};
  EXPECT_TRUE(make_topic_rule(rule("order.{id}", "{ allow = true }"))(AuthRequest{}, match));
  EXPECT_FALSE(make_topic_rule(rule("order.{id}", "{ allow = false }"))(AuthRequest{}, match));
}

TEST(TopicRuleTest, SeedTopicNeedsSecretHeader) {
  // The seed's `topic` entry, through the registry as the server uses it.
  TopicRegistry registry;
  register_topic_rules(registry, {rule("topic", R"({ header = "SECRET", equals = "secret" })")});
  ASSERT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.authorize(with_header("SECRET", "secret"), "topic"), TopicDecision::allow);
  // Header names are case-insensitive, values are not.
  EXPECT_EQ(registry.authorize(with_header("secret", "secret"), "topic"), TopicDecision::allow);
  EXPECT_EQ(registry.authorize(with_header("SECRET", "Secret"), "topic"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(with_header("SECRET", "secret "), "topic"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(with_header("SECRET", ""), "topic"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(with_header("X-Other", "secret"), "topic"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(AuthRequest{}, "topic"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(with_header("SECRET", "secret"), "other"), TopicDecision::no_match);
}

TEST(TopicRuleTest, HeaderEqualsSubstitutesParams) {
  TopicRegistry registry;
  register_topic_rules(
      registry, {rule("order.{id}", R"({ header = "X-Order", equals = "order-{id}-{nope}" })")});
  EXPECT_EQ(registry.authorize(with_header("x-order", "order-42-{nope}"), "order.42"),
            TopicDecision::allow);
  EXPECT_EQ(registry.authorize(with_header("x-order", "order-43-{nope}"), "order.42"),
            TopicDecision::deny);
  EXPECT_EQ(registry.authorize(with_header("x-order", "order-{id}-{nope}"), "order.42"),
            TopicDecision::deny);
}

TEST(TopicRuleTest, RegistersInOrderFirstMatchWins) {
  TopicRegistry registry;
  register_topic_rules(registry, {
                                     rule("order.admin", "{ allow = false }"),
                                     rule("order.{id}", "{ allow = true }"),
                                     rule("order.admin", "{ allow = true }"),
                                 });
  // The third entry re-registers the first: it replaces it in place.
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.authorize(AuthRequest{}, "order.admin"), TopicDecision::allow);
  EXPECT_EQ(registry.authorize(AuthRequest{}, "order.7"), TopicDecision::allow);

  TopicRegistry ordered;
  register_topic_rules(
      ordered, {rule("order.admin", "{ allow = false }"), rule("order.{id}", "{ allow = true }")});
  EXPECT_EQ(ordered.authorize(AuthRequest{}, "order.admin"), TopicDecision::deny);
  EXPECT_EQ(ordered.authorize(AuthRequest{}, "order.7"), TopicDecision::allow);
}

TEST(TopicRuleTest, MalformedRulesHaveExactMessages) {
  const std::string p = "config/broadcasting.toml:12:1: rule for topic `order.{id}`";
  const std::string expected = "(expected allow, header + equals, jwt, or webhook)";
  EXPECT_EQ(rule_error("{ foo = 1 }"), p + " has unknown key `foo` " + expected);
  EXPECT_EQ(rule_error("{ allow = true, foo = 1 }"), p + " has unknown key `foo` " + expected);
  EXPECT_EQ(rule_error("{}"), p + " is empty " + expected);
  EXPECT_EQ(rule_error(R"({ allow = "true" })"), p + ": `allow` must be a boolean, not a string");
  EXPECT_EQ(rule_error("{ allow = 1 }"), p + ": `allow` must be a boolean, not an integer");
  EXPECT_EQ(rule_error(R"({ header = "SECRET" })"), p + " has `header` without `equals`");
  EXPECT_EQ(rule_error(R"({ equals = "secret" })"), p + " has `equals` without `header`");
  EXPECT_EQ(rule_error(R"({ allow = true, equals = "x" })"), p + " has `equals` without `header`");
  EXPECT_EQ(rule_error(R"({ header = 1, equals = "x" })"),
            p + ": `header` must be a string, not an integer");
  EXPECT_EQ(rule_error(R"({ header = "X", equals = true })"),
            p + ": `equals` must be a string, not a boolean");
  EXPECT_EQ(rule_error(R"({ header = "X", equals = ["x"] })"),
            p + ": `equals` must be a string, not an array");
  EXPECT_EQ(rule_error(R"({ header = "", equals = "x" })"), p + ": `header` must not be empty");
  EXPECT_EQ(rule_error(R"({ allow = true, header = "X", equals = "x" })"),
            p + " mixes `allow` and `header` " + expected);
  // Without a known position there is no prefix.
  EXPECT_EQ(rule_error("{ foo = 1 }", SourcePosition{}),
            "rule for topic `order.{id}` has unknown key `foo` " + expected);
  EXPECT_EQ(rule_error("{ foo = 1 }", SourcePosition{"b.toml", 3, 0}),
            "b.toml:3: rule for topic `order.{id}` has unknown key `foo` " + expected);
}

TEST(TopicRuleTest, InvalidPatternIsAConfigErrorAndRegistersNothing) {
  TopicRegistry registry;
  const std::vector<TopicRuleConfig> rules = {
      rule("ok", "{ allow = true }"),
      rule("order.{", "{ allow = true }", {"config/broadcasting.toml", 15, 1}),
  };
  try {
    register_topic_rules(registry, rules);
    ADD_FAILURE() << "no exception";
  } catch (const ConfigException& e) {
    EXPECT_STREQ(e.what(),
                 "config/broadcasting.toml:15:1: invalid topic pattern `order.{`: "
                 "unterminated `{` at column 7");
  }
  EXPECT_EQ(registry.size(), 0u);

  const std::vector<TopicRuleConfig> bad_rule = {
      rule("ok", "{ allow = true }"),
      rule("order.{id}", "{ allow = 1 }", {"config/broadcasting.toml", 18, 1}),
  };
  try {
    register_topic_rules(registry, bad_rule);
    ADD_FAILURE() << "no exception";
  } catch (const ConfigException& e) {
    EXPECT_STREQ(e.what(),
                 "config/broadcasting.toml:18:1: rule for topic `order.{id}`: `allow` must be a "
                 "boolean, not an integer");
  }
  EXPECT_EQ(registry.size(), 0u);
}

TEST(TopicRuleTest, SubstituteParams) {
  const TopicMatch match{"x", {{"id", "5"}, {"x", "{id}"}}, {"5", "{id}"}};
  EXPECT_EQ(substitute_params("{id}", match), "5");
  EXPECT_EQ(substitute_params("order-{id}-{missing}", match), "order-5-{missing}");
  EXPECT_EQ(substitute_params("{{id}}", match), "{5}");
  EXPECT_EQ(substitute_params("{id", match), "{id");
  EXPECT_EQ(substitute_params("id}", match), "id}");
  EXPECT_EQ(substitute_params("{}", match), "{}");
  EXPECT_EQ(substitute_params("", match), "");
  EXPECT_EQ(substitute_params("no params", match), "no params");
  // A substituted value is not expanded again.
  EXPECT_EQ(substitute_params("{x}{id}", match), "{id}5");
  EXPECT_EQ(substitute_params("{id}", TopicMatch{}), "{id}");
}

TEST(TopicRuleTest, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "Secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("secret", "secre"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_FALSE(constant_time_equals("x", ""));
  using namespace std::string_view_literals;
  EXPECT_TRUE(constant_time_equals("a\0b"sv, "a\0b"sv));
  EXPECT_FALSE(constant_time_equals("a\0b"sv, "a\0c"sv));
  EXPECT_FALSE(constant_time_equals("a"sv, "a\0"sv));
}

}  // namespace
}  // namespace herald
