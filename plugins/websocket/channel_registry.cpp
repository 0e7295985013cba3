#include "websocket/channel_registry.hpp"

#include <algorithm>

namespace herald::websocket {

namespace json = boost::json;

// ---- primitives ----

void ChannelRegistry::set_count(NodeState& node, const std::string& channel, std::size_t count,
                                Changes& out) {
  auto it = node.subscriptions.find(channel);
  const std::size_t before = it == node.subscriptions.end() ? 0 : it->second;
  if (before == count) return;
  if (count == 0)
    node.subscriptions.erase(it);
  else if (it == node.subscriptions.end())
    node.subscriptions.emplace(channel, count);
  else
    it->second = count;
  if (&node == &nodes_.at(self_)) {
    changed_counts_[channel] = count;
    if (before == 0 || count == 0) occupancy_changed_ = true;
  }

  ClusterChannel& c = cluster_[channel];
  const bool was_occupied = c.subscriptions > 0;
  c.subscriptions = c.subscriptions - before + count;
  const bool occupied = c.subscriptions > 0;
  if (was_occupied != occupied) out.occupancy.push_back({channel, occupied});
  drop_if_empty(channel);
}

void ChannelRegistry::set_member(NodeState& node, const std::string& channel,
                                 const std::string& user_id, const json::value* info,
                                 Changes& out) {
  auto& node_members = node.members[channel];
  auto it = node_members.find(user_id);
  const bool before = it != node_members.end();
  const bool after = info != nullptr;
  if (before == after) {
    if (after) it->second.info = *info;
    if (node_members.empty()) node.members.erase(channel);
    return;
  }
  if (after)
    node_members.emplace(user_id, NodeMember{1, *info});
  else
    node_members.erase(it);
  if (node_members.empty()) node.members.erase(channel);

  ClusterChannel& c = cluster_[channel];
  if (after) {
    auto [m, inserted] = c.members.try_emplace(user_id);
    if (inserted) m->second.info = *info;
    if (++m->second.nodes == 1) out.presence.push_back({channel, user_id, m->second.info, true});
  } else {
    auto m = c.members.find(user_id);
    if (m != c.members.end() && --m->second.nodes == 0) {
      out.presence.push_back({channel, user_id, m->second.info, false});
      c.members.erase(m);
    }
  }
  drop_if_empty(channel);
}

void ChannelRegistry::drop_if_empty(const std::string& channel) {
  auto it = cluster_.find(channel);
  if (it != cluster_.end() && it->second.subscriptions == 0 && it->second.members.empty())
    cluster_.erase(it);
}

void ChannelRegistry::clear_node(NodeState& node, Changes& out) {
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& [channel, users] : node.members)
    for (const auto& [user, m] : users) members.emplace_back(channel, user);
  for (const auto& [channel, user] : members) set_member(node, channel, user, nullptr, out);
  std::vector<std::string> channels;
  for (const auto& [channel, n] : node.subscriptions) channels.push_back(channel);
  for (const auto& channel : channels) set_count(node, channel, 0, out);
}

// ---- this node ----

ChannelRegistry::Join ChannelRegistry::join(const std::string& channel, const std::string& user_id,
                                            const json::value& info, std::size_t max_members,
                                            Changes& out) {
  NodeState& self = nodes_.at(self_);
  if (!user_id.empty()) {
    auto& local = self.members[channel];
    auto it = local.find(user_id);
    if (it != local.end()) {
      ++it->second.sockets;
    } else {
      auto c = cluster_.find(channel);
      const bool known = c != cluster_.end() && c->second.members.contains(user_id);
      if (!known && c != cluster_.end() && c->second.members.size() >= max_members) {
        if (local.empty()) self.members.erase(channel);
        return Join::members_full;
      }
      if (local.empty()) self.members.erase(channel);
      set_member(self, channel, user_id, &info, out);
    }
  }
  auto it = self.subscriptions.find(channel);
  set_count(self, channel, (it == self.subscriptions.end() ? 0 : it->second) + 1, out);
  return Join::ok;
}

void ChannelRegistry::leave(const std::string& channel, const std::string& user_id, Changes& out) {
  NodeState& self = nodes_.at(self_);
  if (!user_id.empty()) {
    auto users = self.members.find(channel);
    if (users != self.members.end()) {
      auto it = users->second.find(user_id);
      if (it != users->second.end() && --it->second.sockets == 0)
        set_member(self, channel, user_id, nullptr, out);
    }
  }
  auto it = self.subscriptions.find(channel);
  if (it != self.subscriptions.end()) set_count(self, channel, it->second - 1, out);
}

bool ChannelRegistry::has_local_member(const std::string& channel,
                                       const std::string& user_id) const {
  const NodeState& self = nodes_.at(self_);
  auto users = self.members.find(channel);
  return users != self.members.end() && users->second.contains(user_id);
}

// ---- other nodes ----

bool ChannelRegistry::apply_snapshot(NodeId node, std::string_view text, Changes& out) {
  if (node == self_) return false;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::object* subs = nullptr;
  const json::object* members = nullptr;
  if (o != nullptr) {
    if (const json::value* s = o->if_contains("s")) subs = s->if_object();
    if (const json::value* m = o->if_contains("m")) members = m->if_object();
  }
  if (subs == nullptr || members == nullptr) return false;

  NodeState& state = nodes_[node];
  // Members first (new ones in, gone ones out), then counts: a snapshot replaces the node's entry.
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [channel, users] : state.members)
    for (const auto& [user, m] : users) {
      const json::value* ch = members->if_contains(channel);
      const json::object* now = ch ? ch->if_object() : nullptr;
      if (now == nullptr || !now->contains(user)) gone.emplace_back(channel, user);
    }
  for (const auto& [channel, user] : gone) set_member(state, channel, user, nullptr, out);
  for (const auto& [channel, users] : *members) {
    const json::object* list = users.if_object();
    if (list == nullptr) continue;
    const std::string name(channel);
    for (const auto& [user, info] : *list) set_member(state, name, std::string(user), &info, out);
  }
  std::vector<std::string> zero;
  for (const auto& [channel, n] : state.subscriptions)
    if (!subs->contains(channel)) zero.push_back(channel);
  for (const auto& channel : zero) set_count(state, channel, 0, out);
  for (const auto& [channel, n] : *subs) {
    const auto count = n.is_uint64() ? n.get_uint64() : n.is_int64() && n.get_int64() > 0 ? std::uint64_t(n.get_int64()) : 0;
    set_count(state, std::string(channel), static_cast<std::size_t>(count), out);
  }
  return true;
}

void ChannelRegistry::apply_member(NodeId node, const std::string& channel,
                                   const std::string& user_id, const json::value& info,
                                   bool present, Changes& out) {
  if (node == self_) return;
  set_member(nodes_[node], channel, user_id, present ? &info : nullptr, out);
}

void ChannelRegistry::apply_count(NodeId node, const std::string& channel,
                                  std::size_t subscriptions, Changes& out) {
  if (node == self_) return;
  set_count(nodes_[node], channel, subscriptions, out);
}

void ChannelRegistry::heard(NodeId node, Clock::time_point now) {
  if (node != self_) nodes_[node].last_seen = now;
}

void ChannelRegistry::forget(NodeId node, Changes& out) {
  if (node == self_) return;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  clear_node(it->second, out);
  nodes_.erase(it);
}

std::size_t ChannelRegistry::expire(Clock::time_point deadline, Changes& out) {
  std::vector<NodeId> silent;
  for (const auto& [id, state] : nodes_)
    if (id != self_ && state.last_seen < deadline) silent.push_back(id);
  for (NodeId id : silent) forget(id, out);
  return silent.size();
}

// ---- what this node tells ----

std::string ChannelRegistry::snapshot_json() const {
  const NodeState& self = nodes_.at(self_);
  json::object subs;
  for (const auto& [channel, n] : self.subscriptions) subs[channel] = n;
  json::object members;
  for (const auto& [channel, users] : self.members) {
    json::object list;
    for (const auto& [user, m] : users) list[user] = m.info;
    members[channel] = std::move(list);
  }
  json::object out;
  out["s"] = std::move(subs);
  out["m"] = std::move(members);
  return json::serialize(out);
}

std::vector<std::pair<std::string, std::size_t>> ChannelRegistry::take_changed_counts() {
  std::vector<std::pair<std::string, std::size_t>> out(changed_counts_.begin(),
                                                       changed_counts_.end());
  changed_counts_.clear();
  occupancy_changed_ = false;
  return out;
}

// ---- cluster-wide answers ----

std::size_t ChannelRegistry::subscriptions(const std::string& channel) const {
  auto it = cluster_.find(channel);
  return it == cluster_.end() ? 0 : it->second.subscriptions;
}

std::size_t ChannelRegistry::user_count(const std::string& channel) const {
  auto it = cluster_.find(channel);
  return it == cluster_.end() ? 0 : it->second.members.size();
}

std::vector<std::pair<std::string, json::value>> ChannelRegistry::members(
    const std::string& channel) const {
  std::vector<std::pair<std::string, json::value>> out;
  auto it = cluster_.find(channel);
  if (it == cluster_.end()) return out;
  out.reserve(it->second.members.size());
  for (const auto& [user, m] : it->second.members) out.emplace_back(user, m.info);
  return out;
}

std::vector<ChannelRegistry::ChannelCount> ChannelRegistry::channels(std::string_view prefix) const {
  std::vector<ChannelCount> out;
  for (const auto& [name, c] : cluster_)
    if (c.subscriptions > 0 && name.starts_with(prefix))
      out.push_back({name, c.subscriptions, c.members.size()});
  std::sort(out.begin(), out.end(),
            [](const ChannelCount& a, const ChannelCount& b) { return a.name < b.name; });
  return out;
}

ChannelRegistry::NodeId ChannelRegistry::leader() const noexcept {
  NodeId lowest = self_;
  for (const auto& [id, state] : nodes_) lowest = std::min(lowest, id);
  return lowest;
}

}  // namespace herald::websocket
