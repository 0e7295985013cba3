#include "auth/topic_rules.hpp"

#include <utility>

#include "core/errors.hpp"
#include "core/text.hpp"

namespace herald {

namespace {

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// `what` continues "rule for topic `...`", e.g. " is empty" or ": `allow` must be ...".
[[noreturn]] void fail(const TopicRuleConfig& config, const std::string& what) {
  throw ConfigException(
      config.where.prefix("rule for topic `" + printable(config.pattern) + "`" + what));
}

const std::string& string_value(const TopicRuleConfig& config, std::string_view key) {
  const toml::node* node = config.rule.get(key);
  if (!node->is_string()) {
    fail(config, ": `" + std::string(key) + "` must be a string, not " +
                     std::string(type_name(node->type())));
  }
  return node->as_string()->get();
}

TopicCallback make_allow_rule(const TopicRuleConfig& config) {
  const toml::node* node = config.rule.get("allow");
  if (!node->is_boolean()) {
    fail(config, ": `allow` must be a boolean, not " + std::string(type_name(node->type())));
  }
  const bool allow = node->as_boolean()->get();
  return [allow](const AuthRequest&, const TopicMatch&) { return allow; };
}

TopicCallback make_header_rule(const TopicRuleConfig& config) {
  if (config.rule.get("equals") == nullptr) fail(config, " has `header` without `equals`");
  std::string header = string_value(config, "header");
  if (header.empty()) fail(config, ": `header` must not be empty");
  std::string equals = string_value(config, "equals");
  return [header = std::move(header), equals = std::move(equals)](const AuthRequest& request,
                                                                  const TopicMatch& match) {
    const auto value = request.header(header);
    if (!value) return false;
    return constant_time_equals(*value, substitute_params(equals, match));
  };
}

// One rule kind: the key that selects it, the other keys it takes, and its factory. A new kind
// (jwt, webhook) is one more row.
struct RuleKind {
  std::string_view key;
  std::vector<std::string_view> companions;
  std::string_view description;  // for "(expected ...)"
  TopicCallback (*make)(const TopicRuleConfig&);
};

const std::vector<RuleKind>& rule_kinds() {
  static const std::vector<RuleKind> kinds = {
      {"allow", {}, "allow", &make_allow_rule},
      {"header", {"equals"}, "header + equals", &make_header_rule},
  };
  return kinds;
}

// "allow, or header + equals"
std::string expected_kinds() {
  const auto& kinds = rule_kinds();
  std::string out;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (i != 0) out += ", ";
    if (i != 0 && i + 1 == kinds.size()) out += "or ";
    out += kinds[i].description;
  }
  return out;
}

bool takes(const RuleKind& kind, std::string_view key) {
  if (kind.key == key) return true;
  for (auto companion : kind.companions) {
    if (companion == key) return true;
  }
  return false;
}

// The kind a key belongs to, or nullptr.
const RuleKind* owner_of(std::string_view key) {
  for (const auto& kind : rule_kinds()) {
    if (takes(kind, key)) return &kind;
  }
  return nullptr;
}

}  // namespace

TopicCallback make_topic_rule(const TopicRuleConfig& config) {
  if (config.rule.empty()) fail(config, " is empty (expected " + expected_kinds() + ")");
  // Keys are visited in the table's (sorted) order, so the reported key is deterministic.
  for (auto&& [key, node] : config.rule) {
    if (owner_of(key.str()) == nullptr) {
      fail(config,
           " has unknown key `" + printable(key.str()) + "` (expected " + expected_kinds() + ")");
    }
  }
  const RuleKind* selected = nullptr;
  for (const auto& kind : rule_kinds()) {
    if (!config.rule.contains(kind.key)) continue;
    if (selected != nullptr) {
      fail(config, " mixes `" + std::string(selected->key) + "` and `" + std::string(kind.key) +
                       "` (expected " + expected_kinds() + ")");
    }
    selected = &kind;
  }
  for (auto&& [key, node] : config.rule) {
    if (selected == nullptr || !takes(*selected, key.str())) {
      fail(config, " has `" + std::string(key.str()) + "` without `" +
                       std::string(owner_of(key.str())->key) + "`");
    }
  }
  return selected->make(config);
}

void register_topic_rules(TopicRegistry& registry, const std::vector<TopicRuleConfig>& rules) {
  // Check every entry before touching `registry`, so a bad file registers nothing.
  TopicRegistry staged;
  std::vector<TopicCallback> callbacks;
  callbacks.reserve(rules.size());
  for (const auto& config : rules) {
    try {
      staged.register_topic(config.pattern,
                            [](const AuthRequest&, const TopicMatch&) { return false; });
    } catch (const InvalidArgumentException& e) {
      throw ConfigException(config.where.prefix(e.what()));
    }
    callbacks.push_back(make_topic_rule(config));
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    registry.register_topic(rules[i].pattern, std::move(callbacks[i]));
  }
}

std::string substitute_params(std::string_view text, const TopicMatch& match) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('{', i);
    const size_t close = open == std::string_view::npos ? open : text.find('}', open + 1);
    if (close == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, open - i));
    if (const std::string* value = match.param(text.substr(open + 1, close - open - 1))) {
      out += *value;  // not rescanned: a value from the topic never expands further
      i = close + 1;
    } else {
      out += '{';  // unknown name: keep as written, but `{{id}` still finds `{id}`
      i = open + 1;
    }
  }
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  // Walk the longer input in full and fold differences into one accumulator; the volatile store
  // keeps the compiler from turning the loop into an early-exit comparison.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace herald
