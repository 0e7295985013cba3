// Who is subscribed where, for the whole cluster: per node, the subscription count of each
// channel and the presence members (user id and info) it holds, plus the sum over all nodes.
// The local node changes its own entry socket by socket; other nodes' entries come from the
// Redis bus (snapshots, member joins and leaves, counts) and expire when a node stops sending
// heartbeats. Every change that is visible to clients or webhooks (a user becoming a member of
// the cluster or ceasing to be one, a channel becoming occupied or vacated in the cluster) is
// reported in `Changes`, once, whichever node caused it.
//
// Not thread-safe: the server guards it with one mutex. No I/O, so the unit tests drive it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

namespace herald::websocket {

struct Changes {
  struct Presence {
    std::string channel, user_id;
    boost::json::value info;  // the member's user_info (null when none)
    bool added = false;       // false: removed
  };
  struct Occupancy {
    std::string channel;
    bool occupied = false;  // false: vacated
  };
  std::vector<Presence> presence;
  std::vector<Occupancy> occupancy;
  bool empty() const noexcept { return presence.empty() && occupancy.empty(); }
};

class ChannelRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  using NodeId = std::uint64_t;

  explicit ChannelRegistry(NodeId self) : self_(self) { nodes_[self]; }

  // ---- this node's sockets ----

  enum class Join { ok, members_full };
  // One local socket subscribes to `channel` (`user_id` set on presence channels). Refuses a new
  // member when the channel already has `max_members` users in the cluster.
  Join join(const std::string& channel, const std::string& user_id, const boost::json::value& info,
            std::size_t max_members, Changes& out);
  // One local socket leaves `channel`.
  void leave(const std::string& channel, const std::string& user_id, Changes& out);
  // True when `user_id` already has a local socket on `channel` (its join changes no member).
  bool has_local_member(const std::string& channel, const std::string& user_id) const;

  // ---- other nodes (from the bus) ----

  // A node's whole state, as `snapshot_json` of that node wrote it. Replaces what was known.
  // False when the text is not a snapshot (nothing changes).
  bool apply_snapshot(NodeId node, std::string_view json, Changes& out);
  void apply_member(NodeId node, const std::string& channel, const std::string& user_id,
                    const boost::json::value& info, bool present, Changes& out);
  void apply_count(NodeId node, const std::string& channel, std::size_t subscriptions,
                   Changes& out);
  // The node is alive (any message from it counts).
  void heard(NodeId node, Clock::time_point now);
  // The node left (said goodbye) or went silent: its members and subscriptions go.
  void forget(NodeId node, Changes& out);
  // Forgets every other node not heard from since `deadline`; returns how many.
  std::size_t expire(Clock::time_point deadline, Changes& out);

  // ---- what this node tells the others ----

  // This node's state: {"s":{"channel":subscriptions,..},"m":{"channel":{"user":info,..},..}}.
  std::string snapshot_json() const;
  // Local channels whose subscription count changed since the last call, with the count now.
  std::vector<std::pair<std::string, std::size_t>> take_changed_counts();
  // True when, since the last take_changed_counts, a local channel went from no subscriptions to
  // some or back: the others need those counts at once, or the leader could see the channel
  // vacated and occupied again while one node's socket leaves as another's joins.
  bool occupancy_changed() const noexcept { return occupancy_changed_; }

  // ---- cluster-wide answers ----

  struct ChannelCount {
    std::string name;
    std::size_t subscriptions = 0;
    std::size_t users = 0;
  };
  std::size_t subscriptions(const std::string& channel) const;
  std::size_t user_count(const std::string& channel) const;
  // Members of a presence channel in the cluster, ordered by user id, with their info.
  std::vector<std::pair<std::string, boost::json::value>> members(const std::string& channel) const;
  // Occupied channels whose name starts with `prefix`, sorted by name.
  std::vector<ChannelCount> channels(std::string_view prefix) const;
  std::size_t channel_count() const noexcept { return cluster_.size(); }
  std::size_t node_count() const noexcept { return nodes_.size(); }
  // The smallest known node id: the node that sends the cluster's webhooks.
  NodeId leader() const noexcept;
  NodeId self() const noexcept { return self_; }

 private:
  struct NodeMember {
    std::size_t sockets = 0;  // local node only; 1 for a remote member
    boost::json::value info;
  };
  struct NodeState {
    Clock::time_point last_seen{};
    std::unordered_map<std::string, std::size_t> subscriptions;
    std::unordered_map<std::string, std::map<std::string, NodeMember>> members;
  };
  struct ClusterMember {
    std::size_t nodes = 0;
    boost::json::value info;
  };
  struct ClusterChannel {
    std::size_t subscriptions = 0;
    std::map<std::string, ClusterMember> members;
  };

  // The two primitives every change goes through: they keep cluster_ equal to the sum of nodes_.
  void set_count(NodeState& node, const std::string& channel, std::size_t count, Changes& out);
  void set_member(NodeState& node, const std::string& channel, const std::string& user_id,
                  const boost::json::value* info, Changes& out);  // info == nullptr: absent
  void drop_if_empty(const std::string& channel);
  void clear_node(NodeState& node, Changes& out);

  NodeId self_;
  std::unordered_map<NodeId, NodeState> nodes_;
  std::unordered_map<std::string, ClusterChannel> cluster_;
  std::unordered_map<std::string, std::size_t> changed_counts_;  // local, since take_changed_counts
  bool occupancy_changed_ = false;                                // ditto
};

}  // namespace herald::websocket
