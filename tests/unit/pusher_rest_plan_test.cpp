// The pusher driver's REST publishing without a network (pusher_rest.hpp): settings and their
// errors, the request plan (fewest requests within 100 channels per event and 10 events per
// batch), the exact bodies, the data size limit and the reply messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "common/pusher/pusher_rest.hpp"

namespace {

namespace pusher = herald::pusher;
using herald::sdk::Texts;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Cfg {
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, std::string>> json;
  std::vector<herald_config_entry> entries;
  herald_config c{};
  herald::sdk::Config get() {
    entries.clear();
    for (auto& [k, v] : strings) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
    for (auto& [k, v] : json) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
    c.struct_size = sizeof c;
    c.connection = {"p", 1};
    c.entries = entries.data();
    c.entry_count = entries.size();
    return herald::sdk::Config(&c);
  }
};

Cfg base() {
  Cfg cfg;
  cfg.strings = {
      {"app_id", "3"}, {"key", "278d425bdf160c739803"}, {"secret", "7ad3773142a6692b25b8"}};
  return cfg;
}

std::string error_of(Cfg cfg) {
  try {
    pusher::read_rest_settings(cfg.get());
  } catch (const herald::sdk::ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(PusherRestSettings, HostPortSchemeAndCluster) {
  Cfg cfg = base();
  pusher::RestSettings s = pusher::read_rest_settings(cfg.get());
  EXPECT_EQ(s.base_url, "https://api.pusherapp.com:443");
  EXPECT_EQ(s.event, "message");
  EXPECT_EQ(s.max_data_bytes, 10240u);
  EXPECT_FALSE(s.client.retry_unanswered) << "Pusher cannot drop a duplicate";
  EXPECT_THAT(s.client.headers, ElementsAre("Content-Type: application/json"));
  EXPECT_THAT(s.client.redact, ElementsAre("7ad3773142a6692b25b8"));

  cfg.strings.emplace_back("cluster", "mt1");
  EXPECT_EQ(pusher::read_rest_settings(cfg.get()).base_url, "https://api-mt1.pusher.com:443");

  cfg.strings.emplace_back("scheme", "http");
  EXPECT_EQ(pusher::read_rest_settings(cfg.get()).base_url, "http://api-mt1.pusher.com:80");

  cfg.strings.emplace_back("host", "127.0.0.1");  // host wins over cluster
  cfg.json = {{"port", "6001"}, {"max_data_bytes", "100000"}, {"retry_unanswered", "true"}};
  cfg.strings.emplace_back("event", "App\\Events\\Update");
  s = pusher::read_rest_settings(cfg.get());
  EXPECT_EQ(s.base_url, "http://127.0.0.1:6001");
  EXPECT_EQ(s.event, "App\\Events\\Update");
  EXPECT_EQ(s.max_data_bytes, 100000u);
  EXPECT_TRUE(s.client.retry_unanswered);

  Cfg v6 = base();
  v6.strings.emplace_back("host", "[::1]");
  EXPECT_EQ(pusher::read_rest_settings(v6.get()).base_url, "https://[::1]:443");
}

TEST(PusherRestSettings, ErrorsNameTheKeyAndNeverTheSecret) {
  auto with = [](std::vector<std::pair<std::string, std::string>> strings,
                 std::vector<std::pair<std::string, std::string>> json = {}) {
    Cfg cfg = base();
    for (auto& [k, v] : strings) {
      bool replaced = false;
      for (auto& [k2, v2] : cfg.strings)
        if (k2 == k) {
          v2 = v;
          replaced = true;
        }
      if (!replaced) cfg.strings.emplace_back(k, v);
    }
    cfg.json = std::move(json);
    return error_of(std::move(cfg));
  };
  EXPECT_EQ(with({{"app_id", ""}}), "`app_id` is required");
  EXPECT_EQ(with({{"key", ""}}), "`key` is required");
  EXPECT_EQ(with({{"secret", ""}}), "`secret` is required");
  EXPECT_EQ(with({{"app_id", "1?x"}}), "`app_id` must not contain '/', '?', '#', '%' or '&'");
  EXPECT_EQ(with({{"key", "a&b"}}), "`key` must not contain '&', '=', '#', '%' or '+'");
  EXPECT_EQ(with({{"secret", "has space"}}),
            "`secret` must not contain spaces or control characters");
  EXPECT_EQ(with({{"scheme", "HTTPS"}}), "`scheme` is `HTTPS`; expected http or https");
  EXPECT_THAT(with({{"cluster", "mt 1"}}), HasSubstr("`cluster` is `mt 1`"));
  EXPECT_THAT(with({{"host", "https://x"}}), HasSubstr("`host` is a host name, not a URL"));
  EXPECT_THAT(with({{"host", "x:6001"}}), HasSubstr("`host` `x:6001` is not a host name"));
  EXPECT_EQ(with({}, {{"port", "70000"}}), "`port` is 70000; expected 1..65535");
  EXPECT_EQ(with({}, {{"port", "\"80\""}}), "`port` must be an integer");
  EXPECT_EQ(with({}, {{"max_data_bytes", "0"}}), "`max_data_bytes` is 0; expected 1..67108864");
  EXPECT_EQ(with({{"event", std::string(201, 'e')}}), "`event` must be 1..200 characters");
  EXPECT_EQ(with({}, {{"retries", "99"}}), "`retries` is 99; expected 0..10");
  EXPECT_EQ(with({}, {{"retry_unanswered", "1"}}), "`retry_unanswered` must be a boolean");
}

TEST(PusherRestPlan, FewestRequestsWithinBothLimits) {
  auto shape = [](std::size_t topics, std::size_t messages) {
    const pusher::Plan p = pusher::plan(topics, messages);
    return std::string(p.batch ? "batch " : "events ") + std::to_string(p.requests);
  };
  EXPECT_EQ(shape(1, 1), "events 1");
  EXPECT_EQ(shape(100, 1), "events 1");
  EXPECT_EQ(shape(101, 1), "events 2");
  EXPECT_EQ(shape(250, 1), "events 3");
  EXPECT_EQ(shape(1, 2), "batch 1");
  EXPECT_EQ(shape(1, 10), "batch 1");
  EXPECT_EQ(shape(1, 11), "batch 2");
  EXPECT_EQ(shape(5, 2), "batch 1");
  EXPECT_EQ(shape(10, 2), "events 2");  // a tie: /events
  EXPECT_EQ(shape(3, 7), "batch 3");
  EXPECT_EQ(shape(20, 3), "events 3");
  EXPECT_EQ(shape(150, 2), "events 4");
  EXPECT_EQ(shape(1, 0), "events 0");
}

std::vector<std::string_view> views(const std::vector<std::string>& v) {
  return std::vector<std::string_view>(v.begin(), v.end());
}

std::vector<pusher::RestRequest> build(const std::vector<std::string>& topics,
                                       const std::vector<std::string>& messages,
                                       const pusher::RestSettings& s) {
  const auto t = views(topics), m = views(messages);
  return pusher::build_requests(Texts(t), Texts(m), s);
}

pusher::RestSettings settings() {
  Cfg cfg = base();
  return pusher::read_rest_settings(cfg.get());
}

TEST(PusherRestBodies, EventsBodyMatchesTheOfficialExample) {
  // rest-api.md's example event (members in the driver's order).
  const auto r = build({"project-3"}, {R"({"event":"foo","data":{"some":"data"}})"}, settings());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].path, "/apps/3/events");
  EXPECT_EQ(r[0].body, R"({"name":"foo","data":"{\"some\":\"data\"}","channels":["project-3"]})");
}

TEST(PusherRestBodies, LargeTopicListsAreSplitAt100) {
  std::vector<std::string> topics;
  for (int i = 0; i < 205; ++i) topics.push_back(std::string("c").append(std::to_string(i)));
  const auto r = build(topics, {"hi"}, settings());
  ASSERT_EQ(r.size(), 3u);
  std::size_t total = 0;
  for (const auto& req : r) {
    const auto body = boost::json::parse(req.body);
    EXPECT_EQ(body.at("name"), "message");
    EXPECT_EQ(body.at("data"), "hi");
    total += body.at("channels").as_array().size();
  }
  EXPECT_EQ(boost::json::parse(r[0].body).at("channels").as_array().size(), 100u);
  EXPECT_EQ(boost::json::parse(r[2].body).at("channels").as_array().size(), 5u);
  EXPECT_EQ(boost::json::parse(r[2].body).at("channels").as_array()[4], "c204");
  EXPECT_EQ(total, 205u);
}

TEST(PusherRestBodies, BatchesHoldTenOneChannelEventsInMessageOrder) {
  const auto r =
      build({"a", "b"}, {"1", R"({"event":"e","data":[1]})", "3", "4", "5", "6"}, settings());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].path, "/apps/3/batch_events");
  EXPECT_EQ(r[0].events, 10u);
  EXPECT_EQ(r[1].events, 2u);
  EXPECT_THAT(r[0].body,
              ::testing::StartsWith(R"({"batch":[{"name":"message","channel":"a","data":"1"},)"
                                    R"({"name":"message","channel":"b","data":"1"},)"
                                    R"({"name":"e","channel":"a","data":"[1]"},)"));
  EXPECT_EQ(r[1].body, R"({"batch":[{"name":"message","channel":"a","data":"6"},)"
                       R"({"name":"message","channel":"b","data":"6"}]})");
}

TEST(PusherRestBodies, RefusesWhatPusherWouldRefuseBeforeSending) {
  auto refusal = [](const std::vector<std::string>& t, const std::vector<std::string>& m,
                    const pusher::RestSettings& s) {
    try {
      build(t, m, s);
    } catch (const herald::sdk::InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const pusher::RestSettings s = settings();
  EXPECT_EQ(refusal({"ok"}, {"x", std::string(10241, 'd')}, s),
            "message 2: event data is 10241 bytes, over the 10240-byte limit (`max_data_bytes`)");
  EXPECT_EQ(refusal({"ok"}, {std::string(10240, 'd')}, s), "accepted");
  // The limit applies to the data, whatever the envelope adds around it.
  EXPECT_EQ(refusal({"ok"}, {R"({"event":"e","data":")" + std::string(10240, 'd') + R"("})"}, s),
            "accepted");
  EXPECT_THAT(refusal({"ok", "no spaces"}, {"x"}, s),
              HasSubstr("topic 2 `no spaces` is not a Pusher channel name"));
  EXPECT_THAT(refusal({""}, {"x"}, s), HasSubstr("topic 1 `` is not a Pusher channel name"));
  EXPECT_THAT(refusal({"#"}, {"x"}, s), HasSubstr("is not a Pusher channel name"));
  EXPECT_THAT(refusal({std::string(201, 'a')}, {"x"}, s), HasSubstr("not a Pusher channel name"));
  EXPECT_EQ(refusal({std::string(200, 'a')}, {"x"}, s), "accepted");
  EXPECT_EQ(refusal({"ok"}, {R"({"event":"","data":1})"}, s),
            "message 1: the event name must be 1..200 characters");
  EXPECT_EQ(refusal({"ok"}, {"bad \xff"}, s), "message 1 is not valid UTF-8 text");
  EXPECT_TRUE(build({"ok"}, {}, s).empty());
}

TEST(PusherRestReplies, MessageFromSoketiReverbOrPusher) {
  EXPECT_EQ(pusher::reply_message(R"({"error":"The auth signature is invalid.","code":401})"),
            "The auth signature is invalid.");
  EXPECT_EQ(pusher::reply_message(R"({"message":"Application does not exist."})"),
            "Application does not exist.");
  EXPECT_EQ(pusher::reply_message("Invalid signature: you should have sent\n HmacSHA256Hex(..)\n"),
            "Invalid signature: you should have sent HmacSHA256Hex(..)");
  EXPECT_EQ(pusher::reply_message(""), "");
}

}  // namespace
