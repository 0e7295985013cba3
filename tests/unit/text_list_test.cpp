// Spiral's toArray/formatTopics semantics of the C++ publish API (Stringable topics, lists).
#include <gtest/gtest.h>

#include <list>
#include <cstddef>
#include <ranges>
#include <ostream>

#include "broadcast/broadcast.hpp"

namespace herald {
namespace {

// Spiral's documentation example: a \Stringable topic.
struct Order {
  std::string uuid;
  friend std::ostream& operator<<(std::ostream& os, const Order& o) {
    return os << "order." << o.uuid;
  }
};

std::vector<std::string> strings(Texts views) { return {views.begin(), views.end()}; }

class Recording : public Broadcast {
 public:
  using Broadcast::publish;
  void publish(Texts topics, Texts messages) override {
    calls.emplace_back(strings(topics), strings(messages));
  }
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> calls;
};

TEST(TextList, OneStringLikeValueIsOneItem) {
  EXPECT_EQ(strings(TextList("topic").views()), std::vector<std::string>{"topic"});
  EXPECT_EQ(strings(TextList(std::string("topic")).views()), std::vector<std::string>{"topic"});
  EXPECT_EQ(strings(TextList(std::string_view("topic")).views()),
            std::vector<std::string>{"topic"});
}

TEST(TextList, StreamableValueIsFormatted) {
  EXPECT_EQ(strings(TextList(Order{"42"}).views()), std::vector<std::string>{"order.42"});
  EXPECT_EQ(strings(TextList(42).views()), std::vector<std::string>{"42"});
}

TEST(TextList, RangesKeepTheirOrder) {
  std::vector<std::string> v{"a", "b", "c"};
  EXPECT_EQ(strings(TextList(v).views()), v);
  std::list<const char*> l{"x", "y"};
  EXPECT_EQ(strings(TextList(l).views()), (std::vector<std::string>{"x", "y"}));
  std::vector<Order> orders{{"1"}, {"2"}, {"3"}};
  EXPECT_EQ(strings(TextList(orders).views()),
            (std::vector<std::string>{"order.1", "order.2", "order.3"}));
  EXPECT_TRUE(TextList(std::vector<std::string>{}).views().empty());
}

TEST(BroadcastPublish, AcceptsTopicsAndMessagesInEveryForm) {
  Recording r;
  r.publish("foo", "one");
  r.publish(std::vector<std::string>{"foo", "other"}, "two");
  r.publish(Order{"some"}, std::vector<std::string>{"m1", "m2"});
  r.publish({"a", "b"}, "three");
  ASSERT_EQ(r.calls.size(), 4u);
  EXPECT_EQ(r.calls[0].first, std::vector<std::string>{"foo"});
  EXPECT_EQ(r.calls[0].second, std::vector<std::string>{"one"});
  EXPECT_EQ(r.calls[1].first, (std::vector<std::string>{"foo", "other"}));
  EXPECT_EQ(r.calls[2].first, std::vector<std::string>{"order.some"});
  EXPECT_EQ(r.calls[2].second, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(r.calls[3].first, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Yields "order.1".."order.n" as temporaries, as std::views::transform does (that view itself
// does not compile with clang 14 on libstdc++ 12, and the sanitizer builds use clang).
struct TemporaryTopics {
  struct iterator {
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    int i = 0;
    std::string operator*() const { return "order." + std::to_string(i); }
    iterator& operator++() {
      ++i;
      return *this;
    }
    void operator++(int) { ++i; }
    bool operator==(const iterator&) const = default;
  };
  int n = 0;
  iterator begin() const { return {1}; }
  iterator end() const { return {n + 1}; }
};

TEST(TextList, RangeOfTemporariesIsOwnedNotDangling) {
  static_assert(std::ranges::input_range<const TemporaryTopics>);
  TextList list(TemporaryTopics{3});
  EXPECT_EQ(strings(list.views()), (std::vector<std::string>{"order.1", "order.2", "order.3"}));
}

}  // namespace
}  // namespace herald
