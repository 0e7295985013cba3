// Spiral's TopicRegistry: ordered topic patterns (`order.{uuid}`, `[...]` optional parts),
// anchored and case-insensitive, each with an authorization callback; first match wins.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/auth_request.hpp"

namespace herald {

// What a pattern extracted from a topic (Spiral's $matches).
struct TopicMatch {
  std::string topic;                                        // $matches[0], the whole topic
  std::vector<std::pair<std::string, std::string>> params;  // named groups, in pattern order
  std::vector<std::string> groups;                          // $matches[1..n], numeric groups
  // Set by a rule that verified a token and allowed (the `jwt` rule): the token's claims as a
  // JSON object, for identity (presence, sign-in). Empty otherwise. Mutable because callbacks
  // receive the match as const; TopicRegistry::authorize clears it unless the rule allowed.
  mutable std::string verified_claims{};

  // The value of parameter `name`, or nullptr.
  const std::string* param(std::string_view name) const;
  bool empty() const noexcept { return topic.empty() && params.empty() && groups.empty(); }
};

// Decides whether `request` may use the matched topic.
using TopicCallback = std::function<bool(const AuthRequest& request, const TopicMatch& match)>;

enum class TopicDecision { deny, allow, no_match };

class TopicRegistry {
 public:
  TopicRegistry();
  ~TopicRegistry();
  TopicRegistry(TopicRegistry&&) noexcept;
  TopicRegistry& operator=(TopicRegistry&&) noexcept;

  // Adds a pattern. Registering a pattern that compiles to the same expression again replaces
  // its callback in place (Spiral keys patterns by their compiled regex). Throws
  // InvalidArgumentException for a pattern that cannot compile (e.g. unbalanced `[`).
  void register_topic(std::string_view pattern, TopicCallback callback);

  // Finds the first pattern matching `topic` (Spiral's findCallback), then runs its callback:
  // no_match when nothing matched. A callback that throws counts as deny. `match_out`
  // (optional) receives the parameters, empty when nothing matched.
  TopicDecision authorize(const AuthRequest& request, std::string_view topic,
                          TopicMatch* match_out = nullptr) const;

  size_t size() const;

 private:
  struct Entry;
  mutable std::shared_mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace herald
