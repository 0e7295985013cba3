// Builds TopicRegistry callbacks from the TOML `[[authorize.topics]]` rules.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "auth/topic_registry.hpp"
#include "core/constant_time.hpp"  // rule users compare secrets with constant_time_equals too
#include "core/source_position.hpp"

namespace herald {

// One `[[authorize.topics]]` entry: `pattern = "order.{uuid}"`, `rule = { ... }`.
struct TopicRuleConfig {
  std::string pattern;
  toml::table rule;
  SourcePosition where;  // of the entry, for error messages
};

// Compiles one rule table into a callback. Supported (ABI/config 1.0):
//   { allow = true|false }
//   { header = "NAME", equals = "value with {param}" }   (constant-time comparison)
//   { jwt = { secret = "...", claim = "sub", equals = "{uuid}", algorithms = [..], leeway_s = 0,
//             require_exp = true, audience = "...", issuer = "..." } }   (secret >= 32 bytes;
//             on allow, the token's claims go to TopicMatch::verified_claims)
//   { webhook = { url = "...", secret = "...", timeout_ms = 2000, forward_headers = [..],
//                 max_response_bytes = 65536 } }   (secret >= 32 bytes; X-Herald-Signature)
// Throws ConfigException ("file:line:col: ...") for an unknown or malformed rule.
TopicCallback make_topic_rule(const TopicRuleConfig& config);

// Registers every rule in order.
void register_topic_rules(TopicRegistry& registry, const std::vector<TopicRuleConfig>& rules);

// Replaces each `{name}` in `text` with the matched parameter (unknown names stay as written).
std::string substitute_params(std::string_view text, const TopicMatch& match);

}  // namespace herald
