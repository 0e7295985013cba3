// The websocket driver's cluster registry (plugins/websocket/channel_registry.hpp): one member
// per user for the whole cluster, occupancy for the whole cluster, snapshots, expiry.
#include "websocket/channel_registry.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::websocket {
namespace {

namespace json = boost::json;
using Clock = ChannelRegistry::Clock;

constexpr ChannelRegistry::NodeId kA = 100, kB = 200, kC = 50;

std::vector<std::string> presence(const Changes& c) {
  std::vector<std::string> out;
  for (const auto& p : c.presence) out.push_back((p.added ? "+" : "-") + p.channel + "/" + p.user_id);
  return out;
}

std::vector<std::string> occupancy(const Changes& c) {
  std::vector<std::string> out;
  for (const auto& o : c.occupancy) out.push_back((o.occupied ? "occupied " : "vacated ") + o.channel);
  return out;
}

TEST(ChannelRegistry, LocalSocketsOfOneUserAreOneMember) {
  ChannelRegistry r(kA);
  Changes c;
  ASSERT_EQ(r.join("presence-room", "u1", json::object{{"name", "Ann"}}, 100, c),
            ChannelRegistry::Join::ok);
  EXPECT_EQ(presence(c), std::vector<std::string>{"+presence-room/u1"});
  EXPECT_EQ(occupancy(c), std::vector<std::string>{"occupied presence-room"});
  c = {};
  r.join("presence-room", "u1", nullptr, 100, c);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(r.subscriptions("presence-room"), 2u);
  EXPECT_EQ(r.user_count("presence-room"), 1u);
  r.leave("presence-room", "u1", c);
  EXPECT_TRUE(c.empty()) << "one socket of u1 is still there";
  r.leave("presence-room", "u1", c);
  EXPECT_EQ(presence(c), std::vector<std::string>{"-presence-room/u1"});
  EXPECT_EQ(occupancy(c), std::vector<std::string>{"vacated presence-room"});
  EXPECT_EQ(r.channel_count(), 0u);
}

TEST(ChannelRegistry, AUserOnTwoNodesIsOneMemberOfTheCluster) {
  ChannelRegistry a(kA);
  Changes c;
  a.apply_member(kB, "presence-room", "u1", json::object{{"name", "Ann"}}, true, c);
  a.apply_count(kB, "presence-room", 1, c);
  EXPECT_EQ(presence(c), std::vector<std::string>{"+presence-room/u1"});
  EXPECT_EQ(occupancy(c), std::vector<std::string>{"occupied presence-room"});

  c = {};
  a.join("presence-room", "u1", nullptr, 100, c);
  EXPECT_TRUE(c.presence.empty()) << "u1 is already a member through node B";
  EXPECT_EQ(a.subscriptions("presence-room"), 2u);
  ASSERT_EQ(a.members("presence-room").size(), 1u);
  EXPECT_EQ(a.members("presence-room")[0].second, (json::object{{"name", "Ann"}}));

  a.leave("presence-room", "u1", c);
  EXPECT_TRUE(c.presence.empty()) << "u1 is still on node B";
  a.apply_member(kB, "presence-room", "u1", nullptr, false, c);
  a.apply_count(kB, "presence-room", 0, c);
  EXPECT_EQ(presence(c), std::vector<std::string>{"-presence-room/u1"});
  EXPECT_EQ(occupancy(c), std::vector<std::string>{"vacated presence-room"});
}

TEST(ChannelRegistry, MemberLimitCountsTheWholeCluster) {
  ChannelRegistry a(kA);
  Changes c;
  a.apply_member(kB, "presence-room", "u1", nullptr, true, c);
  a.apply_member(kB, "presence-room", "u2", nullptr, true, c);
  EXPECT_EQ(a.join("presence-room", "u3", nullptr, 2, c), ChannelRegistry::Join::members_full);
  EXPECT_EQ(a.subscriptions("presence-room"), 0u);
  EXPECT_EQ(a.join("presence-room", "u2", nullptr, 2, c), ChannelRegistry::Join::ok)
      << "a user who is already a member is not a new one";
}

TEST(ChannelRegistry, ASnapshotReplacesWhatWasKnownOfANode) {
  ChannelRegistry b(kB);
  Changes c;
  b.join("presence-room", "u1", json::object{{"n", 1}}, 100, c);
  b.join("news", "", nullptr, 100, c);
  b.join("news", "", nullptr, 100, c);

  ChannelRegistry a(kA);
  Changes seen;
  ASSERT_TRUE(a.apply_snapshot(kB, b.snapshot_json(), seen));
  EXPECT_EQ(presence(seen), std::vector<std::string>{"+presence-room/u1"});
  EXPECT_EQ(a.subscriptions("news"), 2u);
  EXPECT_EQ(a.subscriptions("presence-room"), 1u);

  b.leave("presence-room", "u1", c);
  b.join("presence-room", "u2", nullptr, 100, c);
  seen = {};
  ASSERT_TRUE(a.apply_snapshot(kB, b.snapshot_json(), seen));
  EXPECT_EQ(presence(seen), (std::vector<std::string>{"-presence-room/u1", "+presence-room/u2"}));
  EXPECT_TRUE(seen.occupancy.empty());
  EXPECT_FALSE(a.apply_snapshot(kB, "{not json", seen));
  EXPECT_FALSE(a.apply_snapshot(kB, "[1,2]", seen));
}

TEST(ChannelRegistry, ASilentNodeIsForgottenWithItsMembers) {
  ChannelRegistry a(kA);
  Changes c;
  const auto t0 = Clock::now();
  a.heard(kB, t0);
  a.heard(kC, t0 + std::chrono::seconds(4));
  a.apply_member(kB, "presence-room", "u1", nullptr, true, c);
  a.apply_count(kB, "presence-room", 1, c);
  a.apply_member(kC, "presence-room", "u2", nullptr, true, c);
  a.apply_count(kC, "presence-room", 1, c);
  a.join("presence-room", "u2", nullptr, 100, c);
  EXPECT_EQ(a.node_count(), 3u);
  EXPECT_EQ(a.leader(), kC);

  c = {};
  EXPECT_EQ(a.expire(t0 + std::chrono::seconds(1), c), 1u);
  EXPECT_EQ(presence(c), std::vector<std::string>{"-presence-room/u1"});
  EXPECT_TRUE(c.occupancy.empty()) << "the channel still has subscribers here and on C";
  EXPECT_EQ(a.subscriptions("presence-room"), 2u);
  EXPECT_EQ(a.node_count(), 2u);

  c = {};
  a.forget(kC, c);
  EXPECT_TRUE(c.presence.empty()) << "u2 is still here";
  EXPECT_EQ(a.leader(), kA);
  EXPECT_EQ(a.expire(Clock::now() + std::chrono::hours(1), c), 0u) << "never expires itself";
}

TEST(ChannelRegistry, ChangedCountsAreReportedOnceWithTheirLatestValue) {
  ChannelRegistry a(kA);
  Changes c;
  a.join("x", "", nullptr, 100, c);
  a.join("x", "", nullptr, 100, c);
  a.join("y", "", nullptr, 100, c);
  a.leave("y", "", c);
  auto counts = a.take_changed_counts();
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<std::pair<std::string, std::size_t>>{{"x", 2}, {"y", 0}}));
  EXPECT_TRUE(a.take_changed_counts().empty());
  EXPECT_TRUE(a.channels("").size() == 1 && a.channels("")[0].name == "x");
}

TEST(ChannelRegistry, OnlyAChannelGainingItsFirstOrLosingItsLastLocalSocketIsUrgent) {
  ChannelRegistry a(kA);
  ChannelRegistry b(kB);
  Changes c;
  EXPECT_FALSE(a.occupancy_changed());
  a.join("x", "", nullptr, 100, c);
  EXPECT_TRUE(a.occupancy_changed()) << "x became occupied here";
  a.take_changed_counts();
  a.join("x", "", nullptr, 100, c);
  EXPECT_FALSE(a.occupancy_changed()) << "2 sockets instead of 1 can wait for the next round";
  a.leave("x", "", c);
  EXPECT_FALSE(a.occupancy_changed());
  a.leave("x", "", c);
  EXPECT_TRUE(a.occupancy_changed()) << "x is no longer occupied here";
  a.take_changed_counts();
  EXPECT_FALSE(a.occupancy_changed());
  b.apply_count(kA, "x", 1, c);
  EXPECT_FALSE(b.occupancy_changed()) << "another node's count is not ours to send";
}

TEST(ChannelRegistry, MessagesAboutItselfAreIgnored) {
  ChannelRegistry a(kA);
  Changes c;
  a.apply_member(kA, "presence-room", "u1", nullptr, true, c);
  a.apply_count(kA, "presence-room", 3, c);
  EXPECT_FALSE(a.apply_snapshot(kA, R"({"s":{"x":1},"m":{}})", c));
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(a.channel_count(), 0u);
}

}  // namespace
}  // namespace herald::websocket
