#include "auth/topic_rules.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>

#include <boost/json.hpp>

#include "auth/jwt.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "net/http_client.hpp"

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

// ---- jwt = { secret = "...", claim = "sub", equals = "{uuid}", algorithms = [...],
//             leeway_s = 0 } ----

// A sub-table key of a rule, e.g. `jwt.secret`; nullptr when absent.
const toml::node* option(const TopicRuleConfig& config, const toml::table& table,
                         std::string_view rule, std::string_view key,
                         toml::node_type expected) {
  const toml::node* node = table.get(key);
  if (node != nullptr && node->type() != expected)
    fail(config, ": `" + std::string(rule) + "." + std::string(key) + "` must be " +
                     std::string(type_name(expected)) + ", not " +
                     std::string(type_name(node->type())));
  return node;
}

void only_keys(const TopicRuleConfig& config, const toml::table& table, std::string_view rule,
               std::initializer_list<std::string_view> keys) {
  for (auto&& [key, node] : table) {
    if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
      std::string list;
      for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(config, ": `" + std::string(rule) + "` has unknown key `" + printable(key.str()) +
                       "` (expected " + list + ")");
    }
  }
}

// The token a client presents: `Authorization: Bearer`, else a `token` query or form field.
std::optional<std::string> bearer_token(const AuthRequest& request) {
  if (auto auth = request.header("Authorization")) {
    constexpr std::string_view kScheme = "bearer ";
    if (auth->size() > kScheme.size() && iequals(auth->substr(0, kScheme.size()), kScheme)) {
      std::string_view token = auth->substr(kScheme.size());
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      return std::string(token);
    }
  }
  if (auto token = request.query_param("token")) return token;
  return request.form_field("token");
}

TopicCallback make_jwt_rule(const TopicRuleConfig& config) {
  const toml::node* node = config.rule.get("jwt");
  if (!node->is_table())
    fail(config, ": `jwt` must be a table like { secret = \"...\" }, not " +
                     std::string(type_name(node->type())));
  const toml::table& jwt = *node->as_table();
  only_keys(config, jwt, "jwt",
            {"secret", "claim", "equals", "algorithms", "leeway_s", "require_exp", "audience",
             "issuer"});
  JwtOptions options;
  const toml::node* secret = option(config, jwt, "jwt", "secret", toml::node_type::string);
  if (secret == nullptr || secret->as_string()->get().empty())
    fail(config, ": `jwt.secret` is required and must not be empty");
  // Never echo the secret, not even its length.
  if (secret->as_string()->get().size() < kMinJwtSecretBytes)
    fail(config, ": `jwt.secret` must be at least " + std::to_string(kMinJwtSecretBytes) +
                     " bytes (a short HMAC key can be guessed offline from any token)");
  options.secret = secret->as_string()->get();
  if (const toml::node* r = option(config, jwt, "jwt", "require_exp", toml::node_type::boolean))
    options.require_exp = r->as_boolean()->get();
  for (auto [key, target] : {std::pair{"audience", &options.audience},
                             std::pair{"issuer", &options.issuer}}) {
    if (const toml::node* n = option(config, jwt, "jwt", key, toml::node_type::string)) {
      if (n->as_string()->get().empty())
        fail(config, ": `jwt." + std::string(key) + "` must not be empty");
      *target = n->as_string()->get();
    }
  }
  if (const toml::node* algs = option(config, jwt, "jwt", "algorithms", toml::node_type::array)) {
    options.algorithms.clear();
    for (const toml::node& a : *algs->as_array()) {
      const std::string* name = a.is_string() ? &a.as_string()->get() : nullptr;
      if (name == nullptr || (*name != "HS256" && *name != "HS384" && *name != "HS512"))
        fail(config, ": `jwt.algorithms` may hold only \"HS256\", \"HS384\" and \"HS512\"");
      options.algorithms.push_back(*name);
    }
    if (options.algorithms.empty()) fail(config, ": `jwt.algorithms` must not be empty");
  }
  if (const toml::node* leeway = option(config, jwt, "jwt", "leeway_s", toml::node_type::integer)) {
    if (leeway->as_integer()->get() < 0 || leeway->as_integer()->get() > 86400)
      fail(config, ": `jwt.leeway_s` must be between 0 and 86400");
    options.leeway = std::chrono::seconds(leeway->as_integer()->get());
  }
  const toml::node* claim = option(config, jwt, "jwt", "claim", toml::node_type::string);
  const toml::node* equals = option(config, jwt, "jwt", "equals", toml::node_type::string);
  if ((claim == nullptr) != (equals == nullptr))
    fail(config, ": `jwt.claim` and `jwt.equals` go together");
  std::string claim_name = claim != nullptr ? claim->as_string()->get() : std::string();
  std::string expected = equals != nullptr ? equals->as_string()->get() : std::string();
  return [options = std::move(options), claim_name = std::move(claim_name),
          expected = std::move(expected)](const AuthRequest& request, const TopicMatch& match) {
    const auto token = bearer_token(request);
    if (!token || token->empty()) return false;
    const JwtResult verified = verify_jwt(*token, options);
    if (!verified) return false;
    if (!claim_name.empty()) {
      const auto actual = claim_text(*verified.claims, claim_name);
      if (!actual || !constant_time_equals(*actual, substitute_params(expected, match)))
        return false;
    }
    match.verified_claims = boost::json::serialize(*verified.claims);
    return true;
  };
}

// ---- webhook = { url = "...", secret = "...", timeout_ms = 2000, forward_headers = [...],
//                 max_response_bytes = 65536 } ----

constexpr std::int64_t kWebhookMaxResponse = 64 * 1024;  // the default answer cap: 2xx is enough

TopicCallback make_webhook_rule(const TopicRuleConfig& config) {
  const toml::node* node = config.rule.get("webhook");
  HttpCall call;
  call.timeout = std::chrono::milliseconds(2000);
  call.max_response_bytes = kWebhookMaxResponse;
  if (!node->is_table())
    fail(config, ": `webhook` must be a table { url = \"...\", secret = \"...\" }, not " +
                     std::string(type_name(node->type())) +
                     (node->is_string() ? " (every call is signed now: add a `secret`)" : ""));
  const toml::table& hook = *node->as_table();
  only_keys(config, hook, "webhook",
            {"url", "secret", "timeout_ms", "forward_headers", "max_response_bytes"});
  if (const toml::node* url = option(config, hook, "webhook", "url", toml::node_type::string))
    call.url = url->as_string()->get();
  if (const toml::node* t = option(config, hook, "webhook", "timeout_ms", toml::node_type::integer)) {
    if (t->as_integer()->get() < 1 || t->as_integer()->get() > 60000)
      fail(config, ": `webhook.timeout_ms` must be between 1 and 60000");
    call.timeout = std::chrono::milliseconds(t->as_integer()->get());
  }
  if (const toml::node* m =
          option(config, hook, "webhook", "max_response_bytes", toml::node_type::integer)) {
    if (m->as_integer()->get() < 0 || m->as_integer()->get() > 1024 * 1024)
      fail(config, ": `webhook.max_response_bytes` must be between 0 and 1048576");
    call.max_response_bytes = static_cast<std::size_t>(m->as_integer()->get());
  }
  if (call.url.rfind("http://", 0) != 0 && call.url.rfind("https://", 0) != 0)
    fail(config, ": `webhook` URL must start with http:// or https://");
  // Every call is signed so the app can tell it came from Herald; required, like the jwt key.
  const toml::node* secret = option(config, hook, "webhook", "secret", toml::node_type::string);
  if (secret == nullptr || secret->as_string()->get().empty())
    fail(config, ": `webhook.secret` is required (it signs every call: X-Herald-Signature)");
  if (secret->as_string()->get().size() < kMinJwtSecretBytes)
    fail(config, ": `webhook.secret` must be at least " + std::to_string(kMinJwtSecretBytes) +
                     " bytes");
  std::string key = secret->as_string()->get();
  // Only the client headers named here reach the app (none by default: cookies and bearer
  // tokens are credentials the app must ask for explicitly).
  std::vector<std::string> forward;
  if (const toml::node* f =
          option(config, hook, "webhook", "forward_headers", toml::node_type::array)) {
    for (const toml::node& h : *f->as_array()) {
      const std::string* name = h.is_string() ? &h.as_string()->get() : nullptr;
      if (name == nullptr || name->empty())
        fail(config, ": `webhook.forward_headers` must be a list of header names");
      forward.push_back(ascii_lower(*name));
    }
  }
  call.connect_timeout = std::min(call.timeout, call.connect_timeout);
  call.headers = {{"Content-Type", "application/json"}, {"User-Agent", "herald-webhook"}};
  return [call = std::move(call), key = std::move(key), forward = std::move(forward)](
             const AuthRequest& request, const TopicMatch& match) {
    // The app sees what it needs to decide: the topic, its parameters and the listed headers.
    boost::json::object params, headers;
    for (const auto& [name, value] : match.params) params[name] = value;
    for (const auto& [name, value] : request.headers) {
      const std::string lower = ascii_lower(name);
      if (std::find(forward.begin(), forward.end(), lower) == forward.end()) continue;
      if (auto* existing = headers.if_contains(lower))
        existing->get_string().append(std::string(", ") + value);
      else
        headers[lower] = value;
    }
    HttpCall post = call;
    post.body = boost::json::serialize(boost::json::object{
        {"topic", match.topic}, {"params", std::move(params)}, {"headers", std::move(headers)}});
    post.headers.emplace_back("X-Herald-Signature", hmac_sha256_hex(key, post.body));
    try {
      const HttpAnswer answer = http_call(post);
      return answer.status >= 200 && answer.status < 300;
    } catch (const HttpClientError&) {
      return false;  // unreachable, too slow or too long an answer: deny (the caller logs it)
    }
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
      {"jwt", {}, "jwt", &make_jwt_rule},
      {"webhook", {}, "webhook", &make_webhook_rule},
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

}  // namespace herald
