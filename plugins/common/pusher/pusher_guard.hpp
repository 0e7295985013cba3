// The pusher driver's guard: Pusher channel authorization and user sign-in at the host's
// authorize path (protocols.md section 3, Laravel's PusherBroadcaster in spiral-semantics.md
// section 4). Header-only so unit tests compile it in; immutable after construction, so
// `authorize` is safe to call from many host threads at once.
//
// Decisions (documented for users in GUARD.md):
// - Input: `socket_id` and `channel_name` from the body (form-urlencoded as pusher-js posts it,
//   or a JSON object when Content-Type says json), falling back to the query string (GET).
// - Malformed input (no/invalid socket_id, invalid channel name, bad encoding, a field given
//   twice) -> 400 {"error":"..."}; a denial -> success(false), which the host answers with 403.
// - `private-encrypted-`, `private-` or `presence-` is stripped before the host's topic rules
//   decide (as Laravel does); no match or deny -> denied. Public channels (no prefix) go through
//   the rules too (Laravel runs its channel callbacks for them as well) and, when allowed, get
//   200 `{}`: there is nothing to sign.
// - A request with `socket_id` but no `channel_name` is a user sign-in (pusher-js posts only
//   socket_id for it): signs `socket_id::user::<user_data>`.
// - Presence `channel_data` and sign-in `user_data` need a user identity from a verified source,
//   tried in this order:
//   1. the header named by `user_header` (default `X-Herald-User`: `{"id":..,"info":{..}}` or a
//      plain id), but only when the request comes from an address in `trusted_proxies` (IPs or
//      CIDRs, empty by default: a client-sent header is never trusted on its own);
//   2. the claims of the JWT that the host's `jwt` topic rule verified when it allowed the
//      channel (ABI 1.3 authorize_topic_claims): `sub` is the user id, `user_info` (an object)
//      the info, `watchlist` (an array) the sign-in watchlist. A sign-in has no channel: the
//      guard asks the host's rules about the pseudo-topic `user_topic` (default `#signin`,
//      which no channel name can spell) instead;
//   3. only when `user_from_form = true`, the form fields `user_id` and `user_info`.
//   No identity -> deny, with the reason in the log.
// - Secrets (the app secret, the master key) never reach a log line, an error or a response.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "../event_envelope.hpp"
#include "pusher_signing.hpp"

namespace herald::pusher {

namespace guard_detail {

constexpr std::string_view kEncryptedPrefix = "private-encrypted-";
constexpr std::string_view kPrivatePrefix = "private-";
constexpr std::string_view kPresencePrefix = "presence-";
constexpr size_t kMaxChannelName = 200;  // pusher-http-node validateChannel, Soketi

// Pusher's socket id format `^\d+\.\d+$` (pusher-http-node validateSocketId).
inline bool valid_socket_id(std::string_view s) noexcept { return plugins::is_socket_id(s); }

// Pusher's channel name characters `[A-Za-z0-9_\-=@,.;]`, 1..200 of them.
inline bool valid_channel_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxChannelName) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '=' || c == '@' || c == ',' || c == '.' || c == ';';
    if (!ok) return false;
  }
  return true;
}

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value: '+' is a space, %XX a byte. False on a bad escape.
inline bool form_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += char(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// Splits and decodes a form/query string; false (with `error`) on a bad escape.
inline bool parse_form(std::string_view text, Fields& out, std::string& error) {
  size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    size_t end = text.find('&', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = text.substr(pos, end - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string key, value;
      if (!form_decode(pair.substr(0, eq), key) ||
          (eq != std::string_view::npos && !form_decode(pair.substr(eq + 1), value))) {
        error = "malformed percent-encoding in the request";
        return false;
      }
      out.emplace_back(std::move(key), std::move(value));
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return true;
}

// A JSON object body: string members only are fields (pusher-js never sends anything else).
inline bool parse_json_body(std::string_view text, Fields& out, std::string& error) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) {
    error = "the request body is not a JSON object";
    return false;
  }
  for (const auto& member : *o) {
    if (const boost::json::string* s = member.value().if_string())
      out.emplace_back(std::string(member.key()), std::string(*s));
    else if (member.key() == "user_info")  // an object is fine for user_info
      out.emplace_back("user_info", boost::json::serialize(member.value()));
    else if (member.key() == "socket_id" || member.key() == "channel_name" ||
             member.key() == "user_id") {
      error = "`" + std::string(member.key()) + "` must be a string";
      return false;
    }
  }
  return true;
}

// The single value of `name`: nullopt when absent; `error` set when it is given twice.
inline std::optional<std::string> field(const Fields& fields, std::string_view name,
                                        std::string& error) {
  std::optional<std::string> found;
  for (const auto& [k, v] : fields) {
    if (k != name) continue;
    if (found) {
      error = "`" + std::string(name) + "` is given more than once";
      return std::nullopt;
    }
    found = v;
  }
  return found;
}

// An RFC 7230 token (a header name).
inline bool valid_header_name(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// One `trusted_proxies` entry: an address and how many leading bits must match.
struct Cidr {
  bool v6 = false;
  std::array<unsigned char, 16> addr{};
  int prefix = 0;
};

struct IpAddress {
  bool v6 = false;
  std::array<unsigned char, 16> addr{};
};

// "1.2.3.4" or "::1" (an IPv4-mapped IPv6 address counts as its IPv4 address).
inline std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.addr.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.addr.data()) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, ip.addr.begin())) {
    std::copy(ip.addr.begin() + 12, ip.addr.end(), ip.addr.begin());
    std::fill(ip.addr.begin() + 4, ip.addr.end(), 0);
    return ip;
  }
  ip.v6 = true;
  return ip;
}

// "10.0.0.0/8", "::1", "fd00::/8"; nullopt when malformed.
inline std::optional<Cidr> parse_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  Cidr c;
  c.v6 = ip->v6;
  c.addr = ip->addr;
  c.prefix = c.v6 ? 128 : 32;
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3) return std::nullopt;
    int n = 0;
    for (char ch : bits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + (ch - '0');
    }
    if (n > c.prefix) return std::nullopt;
    c.prefix = n;
  }
  return c;
}

// The address of a herald_request remote_address: "1.2.3.4:5678" or "[::1]:5678".
inline std::optional<IpAddress> remote_ip(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    const size_t close = remote.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return parse_ip(remote.substr(1, close - 1));
  }
  return parse_ip(remote.substr(0, remote.rfind(':')));
}

inline bool contains(const Cidr& c, const IpAddress& ip) noexcept {
  if (c.v6 != ip.v6) return false;
  const int full = c.prefix / 8, rest = c.prefix % 8;
  for (int i = 0; i < full; ++i)
    if (c.addr[i] != ip.addr[i]) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (c.addr[full] & mask) == (ip.addr[full] & mask);
}

constexpr std::string_view kDefaultUserTopic = "#signin";

struct Settings {
  Credentials credentials;
  std::optional<std::string> master_key;  // 32 raw bytes
  std::string user_header;                // "" = no header identity
  std::vector<Cidr> trusted_proxies;      // who may set user_header; empty = nobody
  std::string user_topic{kDefaultUserTopic};  // the host rule that vouches for a sign-in
  bool user_from_form = false;
};

// `trusted_proxies`: a list of IPs/CIDRs (a single string is taken as a list of one).
inline std::vector<Cidr> read_trusted_proxies(const herald::sdk::Config& config) {
  const herald_config_entry* e = config.find("trusted_proxies");
  if (e == nullptr) return {};
  const std::string what =
      config.describe("trusted_proxies") + " must be a list of IP addresses or CIDRs";
  std::vector<std::string> items;
  if (e->is_string) {
    items.emplace_back(herald::sdk::view(e->value));
  } else {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(herald::sdk::view(e->value), ec);
    if (ec || !v.is_array()) throw herald::sdk::ConfigError(what);
    for (const auto& item : v.get_array()) {
      if (!item.is_string()) throw herald::sdk::ConfigError(what);
      items.emplace_back(item.get_string());
    }
  }
  std::vector<Cidr> out;
  for (const auto& item : items) {
    auto c = parse_cidr(item);
    if (!c) throw herald::sdk::ConfigError(what + " (`" + item + "` is neither)");
    out.push_back(*c);
  }
  return out;
}

inline std::string required_string(const herald::sdk::Config& config, std::string_view key) {
  auto v = config.string(key);
  if (!v || v->empty()) throw herald::sdk::ConfigError(config.describe(key) + " is required");
  return *v;
}

inline Settings read_settings(const herald::sdk::Config& config) {
  Settings s;
  s.credentials.app_id = config.string_or("app_id", "");
  s.credentials.key = required_string(config, "key");
  s.credentials.secret = required_string(config, "secret");
  if (auto b64 = config.string("encryption_master_key_base64"); b64 && !b64->empty()) {
    std::string raw;
    // Never echo the key: only what is wrong with it.
    if (!base64_decode(*b64, raw))
      throw herald::sdk::ConfigError(config.describe("encryption_master_key_base64") +
                                     " must be valid base64");
    if (raw.size() != 32)
      throw herald::sdk::ConfigError(config.describe("encryption_master_key_base64") +
                                     " must decode to 32 bytes, not " + std::to_string(raw.size()));
    s.master_key = std::move(raw);
  }
  s.user_header = config.string_or("user_header", "X-Herald-User");
  if (!s.user_header.empty() && !valid_header_name(s.user_header))
    throw herald::sdk::ConfigError(config.describe("user_header") +
                                   " must be an HTTP header name (or \"\" to disable it)");
  s.trusted_proxies = read_trusted_proxies(config);
  // A header named on purpose but trusted from nobody would silently never work.
  if (config.has("user_header") && !s.user_header.empty() && s.trusted_proxies.empty())
    throw herald::sdk::ConfigError(config.describe("user_header") +
                                   " is trusted only from `trusted_proxies`, which is empty");
  s.user_topic = config.string_or("user_topic", kDefaultUserTopic);
  if (s.user_topic.empty())
    throw herald::sdk::ConfigError(config.describe("user_topic") + " must not be empty");
  s.user_from_form = config.boolean("user_from_form").value_or(false);
  return s;
}

// Who the user is, for presence channel_data and sign-in user_data.
struct Identity {
  boost::json::value id;  // a non-empty string or an integer
  std::optional<boost::json::value> info;
  std::optional<boost::json::value> watchlist;
};

inline bool valid_id(const boost::json::value& id) {
  if (const boost::json::string* s = id.if_string()) return !s->empty();
  return id.is_int64() || id.is_uint64();
}

// `{"id":..,"info":{..},"watchlist":[..]}` (`user_id`/`user_info` accepted too) or a plain id.
inline std::optional<Identity> parse_identity(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  Identity identity;
  if (text.front() != '{') {
    identity.id = boost::json::string(text);
    return identity;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return std::nullopt;
  const boost::json::value* id = o->if_contains("id");
  if (id == nullptr) id = o->if_contains("user_id");
  if (id == nullptr || !valid_id(*id)) return std::nullopt;
  identity.id = *id;
  const boost::json::value* info = o->if_contains("info");
  if (info == nullptr) info = o->if_contains("user_info");
  if (info != nullptr) {
    if (!info->is_object()) return std::nullopt;
    identity.info = *info;
  }
  if (const boost::json::value* w = o->if_contains("watchlist")) {
    if (!w->is_array()) return std::nullopt;
    identity.watchlist = *w;
  }
  return identity;
}

// The identity in a verified token's claims: `sub` (a string or an integer) is the id,
// `user_info` (an object) the info, `watchlist` (an array) the sign-in watchlist.
inline std::optional<Identity> claims_identity(std::string_view claims_json, std::string& why) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(claims_json, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  const boost::json::value* sub = o != nullptr ? o->if_contains("sub") : nullptr;
  if (sub == nullptr || !valid_id(*sub)) {
    why = "the verified token has no usable `sub` claim (the user id)";
    return std::nullopt;
  }
  Identity identity;
  identity.id = *sub;
  if (const boost::json::value* info = o->if_contains("user_info")) {
    if (!info->is_object()) {
      why = "the verified token's `user_info` claim is not a JSON object";
      return std::nullopt;
    }
    identity.info = *info;
  }
  if (const boost::json::value* w = o->if_contains("watchlist"); w != nullptr && w->is_array())
    identity.watchlist = *w;
  return identity;
}

inline std::string id_text(const boost::json::value& id) {
  if (const boost::json::string* s = id.if_string()) return std::string(*s);
  return boost::json::serialize(id);
}

// "application/json; charset=utf-8", in any case: the body is JSON, else a form.
inline bool is_json_content_type(std::optional<std::string_view> type) noexcept {
  bool json = false;
  for (size_t i = 0; type && !json && i + 4 <= type->size(); ++i)
    json = (((*type)[i] | 0x20) == 'j') && (((*type)[i + 1] | 0x20) == 's') &&
           (((*type)[i + 2] | 0x20) == 'o') && (((*type)[i + 3] | 0x20) == 'n');
  return json;
}

enum class ChannelKind { public_channel, private_channel, encrypted, presence };

// The channel's kind from its prefix, which is removed from `topic` (the host's topic rules see
// the name without it).
inline ChannelKind strip_channel_prefix(std::string_view& topic) noexcept {
  for (auto [prefix, kind] : {std::pair{kEncryptedPrefix, ChannelKind::encrypted},
                              std::pair{kPrivatePrefix, ChannelKind::private_channel},
                              std::pair{kPresencePrefix, ChannelKind::presence}}) {
    if (topic.starts_with(prefix)) {
      topic.remove_prefix(prefix.size());
      return kind;
    }
  }
  return ChannelKind::public_channel;
}

}  // namespace guard_detail

class PusherGuard {
 public:
  // Reads `key`, `secret`, optional `encryption_master_key_base64` (32 bytes), `user_header`
  // (default "X-Herald-User", "" disables it; trusted only from `trusted_proxies`),
  // `trusted_proxies` (IPs/CIDRs, default none), `user_topic` (default "#signin") and
  // `user_from_form` (default false). Throws herald::sdk::ConfigError.
  PusherGuard(const herald::sdk::Host& host, const herald::sdk::Config& config)
      : host_(host), settings_(guard_detail::read_settings(config)) {}

  // The guard's part of `herald check`: the same checks as the constructor, no side effects.
  static void validate(const herald::sdk::Config& config) { guard_detail::read_settings(config); }

  // Pusher channel authorization / user sign-in for one HTTP request at the host's authorize
  // path.
  void authorize(const herald::sdk::Request& request, const herald::sdk::AuthResult& result) const {
    using namespace guard_detail;
    std::string error;
    Fields body_fields, query_fields;
    if (!read_fields(request, body_fields, query_fields, error)) return bad_request(result, error);
    // The body decides; the query string only fills in what the body lacks (GET requests).
    auto get = [&](std::string_view name) -> std::optional<std::string> {
      auto v = field(body_fields, name, error);
      if (!v && error.empty()) v = field(query_fields, name, error);
      return v;
    };
    std::optional<std::string> socket_id = get("socket_id");
    std::optional<std::string> channel = error.empty() ? get("channel_name") : std::nullopt;
    if (!error.empty()) return bad_request(result, error);
    if (!socket_id) return bad_request(result, "`socket_id` is required");
    if (!valid_socket_id(*socket_id)) return bad_request(result, "`socket_id` is invalid");

    if (!channel) return sign_in(request, *socket_id, result, get);
    if (!valid_channel_name(*channel)) return bad_request(result, "`channel_name` is invalid");
    authorize_channel(request, *socket_id, *channel, result, get);
  }

 private:
  // The request's form or JSON body (by Content-Type) and its query string, as fields; false
  // with `error` set when either is malformed.
  static bool read_fields(const herald::sdk::Request& request, guard_detail::Fields& body_fields,
                          guard_detail::Fields& query_fields, std::string& error) {
    if (!request.body().empty()) {
      const bool json = guard_detail::is_json_content_type(request.header("Content-Type"));
      if (!(json ? guard_detail::parse_json_body(request.body(), body_fields, error)
                 : guard_detail::parse_form(request.body(), body_fields, error)))
        return false;
    }
    return guard_detail::parse_form(request.query(), query_fields, error);
  }

  // One channel (name already checked): the host's topic rule for it decides, a presence
  // channel also needs the user's identity; the reply is signed per the channel's kind.
  template <class Get>
  void authorize_channel(const herald::sdk::Request& request, const std::string& socket_id,
                         const std::string& channel, const herald::sdk::AuthResult& result,
                         Get& get) const {
    using guard_detail::ChannelKind;
    std::string_view topic = channel;
    const ChannelKind kind = guard_detail::strip_channel_prefix(topic);
    if (kind == ChannelKind::encrypted && !settings_.master_key)
      throw herald::sdk::ConfigError(
          "cannot authorize private-encrypted- channels: `encryption_master_key_base64` is not "
          "set");

    herald::sdk::Host::VerifiedTopicDecision decision =
        host_.authorize_topic_claims(request, topic);
    if (!decision.matched)
      return deny(result, channel, "no topic rule matches", herald::sdk::LogLevel::debug);
    if (!decision.allowed)
      return deny(result, channel, "the topic rule denied it", herald::sdk::LogLevel::debug);

    std::optional<guard_detail::Identity> identity;
    if (kind == ChannelKind::presence) {
      std::string why;
      identity = find_identity(request, get, decision.claims, why);
      if (!identity) return deny(result, channel, why);
    }
    const boost::json::object reply = channel_reply(kind, socket_id, channel, identity);
    result.success(true);
    result.add_topic(channel);
    respond(result, 200, boost::json::serialize(reply));
  }

  // {"auth": ..} for a private channel, plus "channel_data" (presence) or "shared_secret"
  // (encrypted); {} for a public one.
  boost::json::object channel_reply(guard_detail::ChannelKind kind, const std::string& socket_id,
                                    const std::string& channel,
                                    const std::optional<guard_detail::Identity>& identity) const {
    using guard_detail::ChannelKind;
    boost::json::object reply;
    if (kind == ChannelKind::public_channel) return reply;
    std::string channel_data;
    if (kind == ChannelKind::presence) {
      boost::json::object data;
      data["user_id"] = identity->id;
      if (identity->info) data["user_info"] = *identity->info;
      channel_data = boost::json::serialize(data);
    }
    reply["auth"] = channel_auth(settings_.credentials, socket_id, channel, channel_data);
    if (!channel_data.empty()) reply["channel_data"] = channel_data;
    if (kind == ChannelKind::encrypted)
      reply["shared_secret"] = encrypted_shared_secret(channel, *settings_.master_key);
    return reply;
  }

  bool from_trusted_proxy(const herald::sdk::Request& request) const {
    if (settings_.trusted_proxies.empty()) return false;
    const auto ip = guard_detail::remote_ip(request.remote_address());
    if (!ip) return false;
    for (const auto& c : settings_.trusted_proxies)
      if (guard_detail::contains(c, *ip)) return true;
    return false;
  }

  // `claims`: the verified token's claims from the rule that allowed, if any.
  template <class Get>
  std::optional<guard_detail::Identity> find_identity(const herald::sdk::Request& request, Get& get,
                                                      const std::optional<std::string>& claims,
                                                      std::string& why) const {
    if (!settings_.user_header.empty() && from_trusted_proxy(request)) {
      if (auto value = request.header(settings_.user_header)) {
        auto identity = guard_detail::parse_identity(*value);
        if (!identity)
          why = "the `" + settings_.user_header +
                "` header is not a user identity ({\"id\":..,\"info\":{..}} or a plain id)";
        return identity;
      }
    }
    if (claims) return guard_detail::claims_identity(*claims, why);
    if (settings_.user_from_form) {
      auto id = get("user_id");
      if (id && !id->empty()) {
        guard_detail::Identity identity;
        identity.id = boost::json::string(*id);
        if (auto info = get("user_info"); info && !info->empty()) {
          boost::system::error_code ec;
          boost::json::value v = boost::json::parse(*info, ec);
          if (ec || !v.is_object()) {
            why = "the `user_info` field is not a JSON object";
            return std::nullopt;
          }
          identity.info = std::move(v);
        }
        return identity;
      }
    }
    why = "no verified user identity (the rule that allowed it verified no token: use a `jwt` "
          "rule, or `trusted_proxies` with `user_header`, or `user_from_form`)";
    return std::nullopt;
  }

  template <class Get>
  void sign_in(const herald::sdk::Request& request, const std::string& socket_id,
               const herald::sdk::AuthResult& result, Get& get) const {
    // No channel to ask about: the host's rule for the `user_topic` pseudo-topic vouches for the
    // user (its JWT claims), unless a trusted proxy or the opt-in form says who it is.
    std::optional<std::string> claims;
    if (!(from_trusted_proxy(request) && !settings_.user_header.empty() &&
          request.header(settings_.user_header))) {
      auto decision = host_.authorize_topic_claims(request, settings_.user_topic);
      if (decision.matched && !decision.allowed)
        return deny(result, "user sign-in", "the `" + settings_.user_topic + "` rule denied it",
                    herald::sdk::LogLevel::debug);
      if (!decision.matched && !settings_.user_from_form)
        return deny(result, "user sign-in", "no topic rule matches `" + settings_.user_topic + "`",
                    herald::sdk::LogLevel::debug);
      claims = std::move(decision.claims);
    }
    std::string why;
    auto identity = find_identity(request, get, claims, why);
    if (!identity) return deny(result, "user sign-in", why);
    // Pusher wants a string id in user_data (pusher-http-node validateUserId).
    boost::json::object data;
    data["id"] = guard_detail::id_text(identity->id);
    if (identity->info) data["user_info"] = *identity->info;
    if (identity->watchlist) data["watchlist"] = *identity->watchlist;
    std::string user_data = boost::json::serialize(data);
    boost::json::object reply;
    reply["auth"] = user_auth(settings_.credentials, socket_id, user_data);
    reply["user_data"] = user_data;
    result.success(true);
    respond(result, 200, boost::json::serialize(reply));
  }

  static void respond(const herald::sdk::AuthResult& result, int status, std::string_view body) {
    result.response(status, body);
    result.response_header("Content-Type", "application/json");
  }

  void bad_request(const herald::sdk::AuthResult& result, const std::string& error) const {
    log(herald::sdk::LogLevel::debug, "pusher auth: bad request: " + error);
    result.success(false);
    boost::json::object body;
    body["error"] = error;
    respond(result, 400, boost::json::serialize(body));
  }

  // Rule denials are routine (debug); a missing or bad identity is a deployment problem (warn).
  void deny(const herald::sdk::AuthResult& result, std::string_view what, const std::string& why,
            herald::sdk::LogLevel level = herald::sdk::LogLevel::warn) const {
    log(level, "pusher auth: denied " + std::string(what) + ": " + why);
    result.success(false);
  }

  void log(herald::sdk::LogLevel level, const std::string& message) const {
    if (host_.raw() != nullptr && host_.log_enabled(level)) host_.log(level, message);
  }

  herald::sdk::Host host_;
  guard_detail::Settings settings_;
};

}  // namespace herald::pusher
