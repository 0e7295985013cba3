// Spiral's tests/TopicRegistryTest, ported, plus Herald's own matching guarantees.
#include "auth/topic_registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/errors.hpp"

namespace herald {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;
using Groups = std::vector<std::string>;

// Spiral's callbacks return a value; ours record one so the test can see which one ran.
class TopicRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Spiral: 'bar-topic.{id}' => fn($id) => $id, 'foo-topic' => fn() => 'foo'.
    registry_.register_topic("bar-topic.{id}", returns_param("id"));
    registry_.register_topic("foo-topic", returns("foo"));
  }

  TopicCallback returns(std::string value) {
    return [this, value](const AuthRequest&, const TopicMatch&) {
      result_ = value;
      return true;
    };
  }
  TopicCallback returns_param(std::string name) {
    return [this, name](const AuthRequest&, const TopicMatch& match) {
      const std::string* value = match.param(name);
      result_ = value != nullptr ? *value : "<missing>";
      return true;
    };
  }
  // findCallback, then call_user_func($callback) with the parameters it produced: the value
  // the matching callback recorded; `match` receives the parameters.
  std::string call(std::string_view topic, TopicMatch& match) {
    result_.clear();
    EXPECT_NE(registry_.authorize(AuthRequest{}, topic, &match), TopicDecision::no_match);
    return result_;
  }

  TopicRegistry registry_;
  std::string result_;
};

TEST_F(TopicRegistryTest, RegisterTopic) {
  registry_.register_topic("baz-topic", returns("baz"));
  registry_.register_topic("baz.{uuid}", returns_param("uuid"));

  TopicMatch params;
  EXPECT_EQ(call("baz-topic", params), "baz");

  params = TopicMatch{};
  EXPECT_EQ(call("baz.hello", params), "hello");
  // [0 => 'baz.hello', 'uuid' => 'hello', 1 => 'hello']
  EXPECT_EQ(params.topic, "baz.hello");
  EXPECT_EQ(params.params, (Params{{"uuid", "hello"}}));
  EXPECT_EQ(params.groups, (Groups{"hello"}));
}

TEST_F(TopicRegistryTest, FindsTopicCallback) {
  TopicMatch params;
  EXPECT_EQ(call("foo-topic", params), "foo");
  // [0 => 'foo-topic']
  EXPECT_EQ(params.topic, "foo-topic");
  EXPECT_TRUE(params.params.empty());
  EXPECT_TRUE(params.groups.empty());

  params = TopicMatch{};
  EXPECT_EQ(call("bar-topic.5", params), "5");
  // [0 => 'bar-topic.5', 'id' => '5', 1 => '5']
  EXPECT_EQ(params.topic, "bar-topic.5");
  EXPECT_EQ(params.params, (Params{{"id", "5"}}));
  EXPECT_EQ(params.groups, (Groups{"5"}));

  // Stale content must be cleared too (Spiral: $matches becomes []).
  params.topic = "stale";
  EXPECT_EQ(registry_.authorize(AuthRequest{}, "baz-topic", &params), TopicDecision::no_match);
  EXPECT_TRUE(params.empty());
}

// ---- Beyond Spiral -------------------------------------------------------------------------

TopicCallback constant(bool result) {
  return [result](const AuthRequest&, const TopicMatch&) { return result; };
}

// The match of `topic`, or nullopt.
std::optional<TopicMatch> find(const TopicRegistry& registry, std::string_view topic) {
  TopicMatch match;
  if (registry.authorize(AuthRequest{}, topic, &match) == TopicDecision::no_match) {
    EXPECT_TRUE(match.empty());
    return std::nullopt;
  }
  return match;
}

std::optional<TopicMatch> match_one(std::string_view pattern, std::string_view topic) {
  TopicRegistry registry;
  registry.register_topic(pattern, constant(true));
  return find(registry, topic);
}

std::string error_of(std::string_view pattern) {
  TopicRegistry registry;
  try {
    registry.register_topic(pattern, constant(true));
  } catch (const InvalidArgumentException& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(TopicRegistryMatchingTest, IsAsciiCaseInsensitiveAndKeepsTheTopicsCase) {
  auto m = match_one("Order.{id}", "ORDER.AbC");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "ORDER.AbC");
  EXPECT_EQ(m->params, (Params{{"id", "AbC"}}));
  EXPECT_TRUE(match_one("Order.{id}", "order.x"));
  // Folding is ASCII only: non-ASCII bytes compare exactly.
  EXPECT_TRUE(match_one("caf\xc3\xa9", "CAF\xc3\xa9"));
  EXPECT_FALSE(match_one("caf\xc3\xa9", "caf\xc3\x89"));
}

TEST(TopicRegistryMatchingTest, IsAnchoredAtBothEnds) {
  EXPECT_TRUE(match_one("foo-topic", "foo-topic"));
  EXPECT_FALSE(match_one("foo-topic", "foo-topicx"));
  EXPECT_FALSE(match_one("foo-topic", "xfoo-topic"));
  EXPECT_FALSE(match_one("foo-topic", "foo-topic.1"));
  EXPECT_FALSE(match_one("foo-topic", "foo-topi"));
  EXPECT_FALSE(match_one("foo-topic", ""));
  // Unlike PCRE's `$`, a trailing newline is not accepted.
  EXPECT_FALSE(match_one("foo-topic", "foo-topic\n"));
  EXPECT_FALSE(match_one("order.{id}", "order.5\n."));
}

TEST(TopicRegistryMatchingTest, ParameterIsOneNonEmptySegment) {
  EXPECT_FALSE(match_one("order.{id}", "order.1.2"));
  EXPECT_FALSE(match_one("order.{id}", "order.1/2"));
  EXPECT_FALSE(match_one("order.{id}", "order."));
  EXPECT_FALSE(match_one("order.{id}", "order"));
  auto m = match_one("user/{id}/feed", "user/42/feed");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"id", "42"}}));
  m = match_one("order.{id}", "order.a-b_c:d\xc3\xa9");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->groups, (Groups{"a-b_c:d\xc3\xa9"}));
}

TEST(TopicRegistryMatchingTest, ParametersAreGreedyLikePcre) {
  auto m = match_one("{a}-{b}", "x-y-z");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"a", "x-y"}, {"b", "z"}}));
  m = match_one("{a}{b}", "abc");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"a", "ab"}, {"b", "c"}}));
  // PCRE's /u matches characters: a parameter never ends inside a multi-byte character.
  m = match_one("{a}{b}", "a\xc3\xa9");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"a", "a"}, {"b", "\xc3\xa9"}}));
}

TEST(TopicRegistryMatchingTest, OptionalPart) {
  auto m = match_one("order[.{id}]", "order");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "order");
  // Not taking part means absent (PCRE would drop it as a trailing group, or report "").
  EXPECT_TRUE(m->params.empty());
  EXPECT_TRUE(m->groups.empty());
  EXPECT_EQ(m->param("id"), nullptr);

  m = match_one("order[.{id}]", "order.5");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"id", "5"}}));
  EXPECT_EQ(m->groups, (Groups{"5"}));

  EXPECT_FALSE(match_one("order[.{id}]", "order."));
  EXPECT_FALSE(match_one("order[.{id}]", "order.5.6"));
  // Greedy: the optional part takes what it can and gives back what the rest needs.
  m = match_one("x[{a}]{b}", "xyz");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"a", "y"}, {"b", "z"}}));
}

TEST(TopicRegistryMatchingTest, NestedOptionalParts) {
  const std::string pattern = "a[.{b}[.{c}]]";
  auto m = match_one(pattern, "a");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->params.empty());
  m = match_one(pattern, "a.1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"b", "1"}}));
  m = match_one(pattern, "a.1.2");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"b", "1"}, {"c", "2"}}));
  EXPECT_EQ(m->groups, (Groups{"1", "2"}));
  EXPECT_FALSE(match_one(pattern, "a..2"));
  EXPECT_FALSE(match_one(pattern, "a.1.2.3"));

  // A skipped parameter before a matched one is absent, and groups stay aligned with params.
  m = match_one("x[.{a}].{b}", "x.2");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"b", "2"}}));
  EXPECT_EQ(m->groups, (Groups{"2"}));
}

TEST(TopicRegistryMatchingTest, ConstraintIsParsedButIgnored) {
  auto m = match_one("order.{id:\\d+}", "order.abc");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"id", "abc"}}));
  m = match_one("order.{id:\\d{2}}.x", "order.7.x");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, (Params{{"id", "7"}}));
}

TEST(TopicRegistryMatchingTest, RegexMetacharactersAreLiterals) {
  EXPECT_TRUE(match_one("a+b.(c)*", "a+b.(c)*"));
  EXPECT_FALSE(match_one("a+b.(c)*", "aab.c"));
  EXPECT_TRUE(match_one("a|b", "a|b"));
  EXPECT_FALSE(match_one("a|b", "a"));
  EXPECT_TRUE(match_one("a\\d", "a\\d"));
  EXPECT_FALSE(match_one("a\\d", "a5"));
  EXPECT_TRUE(match_one("^x$?", "^x$?"));
  EXPECT_FALSE(match_one("x.y", "xzy"));
  EXPECT_TRUE(match_one("a}b", "a}b"));
}

TEST(TopicRegistryMatchingTest, FirstMatchWinsInRegistrationOrder) {
  TopicRegistry registry;
  registry.register_topic("order.{id}", constant(false));
  registry.register_topic("order.special", constant(true));
  AuthRequest request;
  EXPECT_EQ(registry.authorize(request, "order.special"), TopicDecision::deny);

  TopicRegistry reversed;
  reversed.register_topic("order.special", constant(true));
  reversed.register_topic("order.{id}", constant(false));
  EXPECT_EQ(reversed.authorize(request, "order.special"), TopicDecision::allow);
  EXPECT_EQ(reversed.authorize(request, "order.other"), TopicDecision::deny);
}

TEST(TopicRegistryMatchingTest, ReRegistrationReplacesInPlace) {
  TopicRegistry registry;
  registry.register_topic("a.{x}", constant(false));
  registry.register_topic("{y}.b", constant(false));
  registry.register_topic("a.{x}", constant(true));
  EXPECT_EQ(registry.size(), 2u);
  AuthRequest request;
  // Still ahead of `{y}.b`: the replaced entry kept its position.
  EXPECT_EQ(registry.authorize(request, "a.b"), TopicDecision::allow);

  // A constraint does not change the compiled form.
  registry.register_topic("a.{x:\\d+}", constant(false));
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.authorize(request, "a.b"), TopicDecision::deny);

  // Other case or other parameter names compile differently (as Spiral's regex keys do).
  registry.register_topic("A.{x}", constant(true));
  registry.register_topic("a.{z}", constant(true));
  EXPECT_EQ(registry.size(), 4u);
  EXPECT_EQ(registry.authorize(request, "a.b"), TopicDecision::deny);
}

TEST(TopicRegistryMatchingTest, InvalidPatternsThrow) {
  EXPECT_EQ(error_of("order.{}"),
            "invalid topic pattern `order.{}`: empty parameter name at column 7");
  EXPECT_EQ(error_of("order.{:\\d}"),
            "invalid topic pattern `order.{:\\d}`: empty parameter name at column 7");
  EXPECT_EQ(error_of("order.{id"),
            "invalid topic pattern `order.{id`: unterminated `{` at column 7");
  EXPECT_EQ(error_of("order.{"), "invalid topic pattern `order.{`: unterminated `{` at column 7");
  EXPECT_EQ(error_of("order.{id:\\d{2}"),
            "invalid topic pattern `order.{id:\\d{2}`: unterminated `{` at column 7");
  EXPECT_EQ(error_of("order[.{id}"),
            "invalid topic pattern `order[.{id}`: unbalanced `[` at column 6");
  EXPECT_EQ(error_of("a[[b]"), "invalid topic pattern `a[[b]`: unbalanced `[` at column 2");
  EXPECT_EQ(error_of("order].{id}"),
            "invalid topic pattern `order].{id}`: unbalanced `]` at column 6");
  EXPECT_EQ(error_of("{a-b}"),
            "invalid topic pattern `{a-b}`: invalid character `-` in parameter at column 3 "
            "(names are letters, digits and `_`)");
  EXPECT_EQ(error_of("a.{1x}"),
            "invalid topic pattern `a.{1x}`: parameter name `1x` starts with a digit");
  EXPECT_EQ(error_of("{a}.{a}"), "invalid topic pattern `{a}.{a}`: duplicate parameter `a`");
  EXPECT_EQ(error_of(""), "invalid topic pattern ``: empty pattern");
  EXPECT_EQ(error_of("a\xff"), "invalid topic pattern `a\xff`: not valid UTF-8");
  EXPECT_EQ(error_of("a\n{"), "invalid topic pattern `a\\x0a{`: unterminated `{` at column 3");

  TopicRegistry registry;
  EXPECT_THROW(registry.register_topic("[", constant(true)), InvalidArgumentException);
  EXPECT_THROW(registry.register_topic("ok", TopicCallback{}), InvalidArgumentException);
  EXPECT_EQ(registry.size(), 0u);
}

TEST(TopicRegistryMatchingTest, MalformedUtf8TopicMatchesNothing) {
  TopicRegistry registry;
  registry.register_topic("order.{id}", constant(true));
  EXPECT_FALSE(find(registry, "order.\xff"));
  EXPECT_FALSE(find(registry, "order.\xc0\xae"));      // overlong
  EXPECT_FALSE(find(registry, "order.\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(find(registry, "order.\xc3"));          // truncated
  EXPECT_TRUE(find(registry, "order.\xf0\x9f\x98\x80"));
  EXPECT_EQ(registry.authorize(AuthRequest{}, "order.\xff"), TopicDecision::no_match);
}

TEST(TopicRegistryMatchingTest, MegabyteTopicsAreHandled) {
  constexpr size_t kSize = 1 << 20;
  TopicRegistry registry;
  registry.register_topic("order.{id}", constant(true));
  registry.register_topic("{a}-{b}-{c}", constant(true));
  registry.register_topic("{x}-{y}-{z}.end", constant(true));

  const std::string long_id = "order." + std::string(kSize, 'x');
  auto m = find(registry, long_id);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->params.size(), 1u);
  EXPECT_EQ(m->params[0].second.size(), kSize);

  // Many ways to split: a backtracking matcher would be O(n^3) here.
  std::string dashes;
  dashes.reserve(kSize + 1);
  while (dashes.size() < kSize) dashes += "x-";
  dashes += 'x';
  m = find(registry, dashes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->param("a")->size(), dashes.size() - 4);
  EXPECT_EQ(*m->param("b"), "x");
  EXPECT_EQ(*m->param("c"), "x");

  EXPECT_FALSE(find(registry, dashes + ".en"));
  EXPECT_FALSE(find(registry, std::string(kSize, '.')));
  // `-` is an ordinary segment character, so a megabyte of it splits three ways.
  m = find(registry, std::string(kSize, '-'));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->param("a")->size(), kSize - 4);
  EXPECT_EQ(m->groups, (Groups{std::string(kSize - 4, '-'), "-", "-"}));
  EXPECT_TRUE(find(registry, dashes + ".END"));
}

TEST(TopicRegistryMatchingTest, AuthorizeMapsCallbackResults) {
  TopicRegistry registry;
  registry.register_topic("yes.{id}", constant(true));
  registry.register_topic("no.{id}", constant(false));
  AuthRequest request;
  TopicMatch match;
  EXPECT_EQ(registry.authorize(request, "yes.1", &match), TopicDecision::allow);
  EXPECT_EQ(match.params, (Params{{"id", "1"}}));
  EXPECT_EQ(registry.authorize(request, "no.2", &match), TopicDecision::deny);
  EXPECT_EQ(match.params, (Params{{"id", "2"}}));
  EXPECT_EQ(registry.authorize(request, "maybe.3", &match), TopicDecision::no_match);
  EXPECT_TRUE(match.empty());
  EXPECT_EQ(registry.authorize(request, "yes.1"), TopicDecision::allow);
}

TEST(TopicRegistryMatchingTest, CallbackSeesRequestAndMatch) {
  TopicRegistry registry;
  registry.register_topic("room.{id}", [](const AuthRequest& request, const TopicMatch& match) {
    return request.header("x-room").value_or("") == *match.param("id");
  });
  AuthRequest request;
  request.headers = {{"X-Room", "7"}};
  EXPECT_EQ(registry.authorize(request, "room.7"), TopicDecision::allow);
  EXPECT_EQ(registry.authorize(request, "room.8"), TopicDecision::deny);
}

TEST(TopicRegistryMatchingTest, ThrowingCallbackDenies) {
  TopicRegistry registry;
  registry.register_topic("std", [](const AuthRequest&, const TopicMatch&) -> bool {
    throw std::runtime_error("boom");
  });
  registry.register_topic("other", [](const AuthRequest&, const TopicMatch&) -> bool { throw 42; });
  AuthRequest request;
  EXPECT_EQ(registry.authorize(request, "std"), TopicDecision::deny);
  EXPECT_EQ(registry.authorize(request, "other"), TopicDecision::deny);
}

TEST(TopicRegistryMatchingTest, MoveKeepsEntries) {
  TopicRegistry source;
  source.register_topic("a", constant(true));
  TopicRegistry moved(std::move(source));
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved.authorize(AuthRequest{}, "a"), TopicDecision::allow);
  TopicRegistry assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned.authorize(AuthRequest{}, "A"), TopicDecision::allow);
}

TEST(TopicRegistryMatchingTest, ConcurrentFindIsSafe) {
  TopicRegistry registry;
  registry.register_topic("order.{id}", constant(true));
  registry.register_topic("user.{id}[.{tab}]", constant(false));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&registry, &wrong, t] {
      AuthRequest request;
      for (int i = 0; i < 2000; ++i) {
        const std::string id = std::to_string(t * 10000 + i);
        TopicMatch match;
        const TopicDecision found = registry.authorize(request, "user." + id + ".feed", &match);
        if (found == TopicDecision::no_match || *match.param("id") != id ||
            *match.param("tab") != "feed")
          ++wrong;
        if (registry.authorize(request, "order." + id) != TopicDecision::allow) ++wrong;
        if (registry.authorize(request, "nothing." + id) != TopicDecision::no_match) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(TopicRegistryMatchResultTest, ParamLooksUpByName) {
  TopicMatch match{"a.1.2", {{"x", "1"}, {"y", "2"}}, {"1", "2"}};
  ASSERT_NE(match.param("y"), nullptr);
  EXPECT_EQ(*match.param("y"), "2");
  EXPECT_EQ(match.param("z"), nullptr);
  EXPECT_EQ(match.param("X"), nullptr);
  EXPECT_FALSE(match.empty());
  EXPECT_TRUE(TopicMatch{}.empty());
}

}  // namespace
}  // namespace herald
