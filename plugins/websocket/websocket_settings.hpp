// Settings of a `websocket` connection (README.md "Configuration"), read and checked without
// side effects so `herald check` and start-up fail alike. Header-only for unit tests.
#pragma once

#include <herald/driver.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "common/http_client.hpp"  // webhooks: check_http_url
#include "common/redis/redis_endpoint.hpp"

namespace herald::websocket {

struct ListenAddress {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string str() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
  }
};

// webhooks: Pusher webhooks (README.md "Webhooks"). Event kinds as bits of a target's filter.
enum class WebhookEvent : unsigned {
  channel_occupied = 1,
  channel_vacated = 2,
  member_added = 4,
  member_removed = 8,
  client_event = 16,
};
inline constexpr unsigned kAllWebhookEvents = 31;
inline constexpr std::array<std::pair<std::string_view, WebhookEvent>, 5> kWebhookEventNames = {{
    {"channel_occupied", WebhookEvent::channel_occupied},
    {"channel_vacated", WebhookEvent::channel_vacated},
    {"member_added", WebhookEvent::member_added},
    {"member_removed", WebhookEvent::member_removed},
    {"client_event", WebhookEvent::client_event},
}};
struct WebhookTarget {
  std::string url;
  unsigned events = kAllWebhookEvents;  // WebhookEvent bits
};
struct WebhookSettings {
  std::vector<WebhookTarget> targets;  // empty: webhooks off
  int timeout_ms = 5000;               // one POST, connect included
  int retry_s = 60;                    // total time one batch is retried before it is dropped
  std::size_t queue = 10000;           // pending events per target; beyond: dropped, counted
};

struct Settings {
  std::string connection;
  ListenAddress listen;
  std::string app_id, key, secret;
  std::string event = "message";
  int activity_timeout_s = 30;
  std::size_t max_connections = 0;  // 0 = unlimited
  std::size_t max_message_bytes = 10240;
  std::size_t max_channels_per_connection = 100;
  std::size_t presence_max_members = 100;
  std::size_t presence_max_user_info_bytes = 1024;
  bool client_events = true;
  int client_events_per_second = 10;
  std::size_t send_queue_bytes = 1024 * 1024;
  std::vector<std::string> allowed_origins;
  int io_threads = 1;
  WebhookSettings webhooks;  // webhooks: no targets = off
  bool console = true;  // the live console at GET / (README.md "Console")
  // The cluster bus (README.md "Several nodes"): none for a single node.
  std::optional<redis::Endpoint> bus;
  std::string bus_prefix;  // "herald:{app_id}:" with the app id filled in
  int bus_heartbeat_ms = 1000;
  int bus_node_timeout_ms = 5000;  // a silent node is forgotten (with its members) after this
  std::size_t bus_queue_bytes = 8u << 20;
  // TLS (README.md "TLS"): with both set the port speaks TLS only. Absolute paths.
  std::string tls_cert, tls_key;
  std::string tls_ca;  // the one-shot client's CA bundle for this port (empty: the system's)
  int tls_handshake_timeout_ms = 5000;  // a TCP client that does not finish the handshake
  bool tls() const noexcept { return !tls_cert.empty(); }
};

namespace settings_detail {

// Every key a websocket connection accepts; the guard's keys are the pusher driver's.
constexpr auto kKnownKeys = std::to_array<std::string_view>({
    "driver",
    "listen",
    "app_id",
    "key",
    "secret",
    "event",
    "activity_timeout_s",
    "max_connections",
    "max_message_bytes",
    "max_channels_per_connection",
    "presence_max_members",
    "presence_max_user_info_bytes",
    "client_events",
    "client_events_per_second",
    "send_queue_bytes",
    "allowed_origins",
    "io_threads",
    "console",
    "bus",
    "bus_prefix",
    "bus_heartbeat_ms",
    "bus_node_timeout_ms",
    "bus_queue_bytes",
    "encryption_master_key_base64",
    "user_header",
    "user_from_form",
    "trusted_proxies",  // the guard: who may set user_header
    "user_topic",       // the guard: the pseudo-topic whose jwt rule vouches for sign-ins
    "timeout_ms",  // the one-shot client's HTTP timeout
    "webhooks",    // webhooks: the targets, and the three knobs below
    "webhook_timeout_ms",
    "webhook_retry_s",
    "webhook_queue",
    "tls_cert",  // TLS: server certificate chain and key (PEM), the client's CA
    "tls_key",
    "tls_ca",
    "tls_handshake_timeout_ms",
});

inline bool id_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// The integer `key`, `fallback` when absent; a ConfigError naming it outside lo..hi.
inline std::int64_t ranged(const herald::sdk::Config& config, std::string_view key,
                           std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
  const std::int64_t v = config.integer(key).value_or(fallback);
  if (v < lo || v > hi)
    throw herald::sdk::ConfigError(config.describe(key) + " is " + std::to_string(v) +
                                   "; expected " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

}  // namespace settings_detail

// "HOST:PORT" or "[V6]:PORT"; throws ConfigError naming `what`.
inline ListenAddress parse_listen(std::string_view text, const std::string& what) {
  using herald::sdk::ConfigError;
  ListenAddress a;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw ConfigError(what + " must be HOST:PORT or [IPV6]:PORT");
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw ConfigError(what + " `" + std::string(text) + "` has no port (HOST:PORT)");
    a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (a.host.find(':') != std::string::npos)
      throw ConfigError(what + " is an IPv6 address without brackets: write [ADDR]:PORT");
  }
  if (a.host.empty()) throw ConfigError(what + " has no host (HOST:PORT)");
  for (char c : a.host)
    if (!(settings_detail::id_char(c) || c == ':'))
      throw ConfigError(what + " `" + std::string(text) + "` is not HOST:PORT");
  std::uint32_t value = 0;
  if (port.empty() || port.size() > 5) throw ConfigError(what + " has a bad port; expected 0..65535");
  for (char c : port) {
    if (c < '0' || c > '9') throw ConfigError(what + " has a bad port; expected 0..65535");
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) throw ConfigError(what + " has a bad port; expected 0..65535");
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

// webhooks: `webhooks = [{ url = "http://...", events = [..] }]` and its knobs (README.md
// "Webhooks"). Throws ConfigError naming the key; a URL is quoted without user info or query.
inline WebhookSettings read_webhook_settings(const herald::sdk::Config& config) {
  using herald::sdk::ConfigError;
  WebhookSettings w;
  auto ranged = [&](std::string_view key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
    return settings_detail::ranged(config, key, fallback, lo, hi);
  };
  w.timeout_ms = static_cast<int>(ranged("webhook_timeout_ms", 5000, 100, 60000));
  w.retry_s = static_cast<int>(ranged("webhook_retry_s", 60, 0, 3600));
  w.queue = static_cast<std::size_t>(ranged("webhook_queue", 10000, 1, 1'000'000));
  const auto* e = config.find("webhooks");
  if (e == nullptr) return w;
  const std::string what = config.describe("webhooks");
  boost::system::error_code ec;
  const boost::json::value v =
      e->is_string ? boost::json::value() : boost::json::parse(herald::sdk::view(e->value), ec);
  if (ec || !v.is_array())
    throw ConfigError(what + " must be a list of tables: [{ url = \"http://...\", events = [..] }]");
  if (v.get_array().empty())
    throw ConfigError(what + " is empty; remove it or give at least one { url = \"...\" }");
  if (v.get_array().size() > 16) throw ConfigError(what + " has more than 16 targets");
  std::size_t index = 0;
  for (const auto& item : v.get_array()) {
    const std::string at = what + "[" + std::to_string(index++) + "]";
    const boost::json::object* t = item.if_object();
    if (t == nullptr) throw ConfigError(at + " must be a table { url = \"http://...\" }");
    for (const auto& field : *t)
      if (field.key() != "url" && field.key() != "events")
        throw ConfigError(at + " has an unknown key `" + std::string(field.key()) +
                          "` (expected `url`, `events`)");
    const boost::json::value* url = t->if_contains("url");
    if (url == nullptr || !url->is_string() || url->get_string().empty())
      throw ConfigError(at + ".url is required (an http:// or https:// URL)");
    WebhookTarget target;
    target.url = std::string(url->get_string());
    if (const std::string why = herald::plugins::http::check_http_url(target.url); !why.empty())
      throw ConfigError(at + ".url `" + herald::plugins::http::redact_url(target.url) + "` " + why);
    if (const boost::json::value* events = t->if_contains("events")) {
      if (!events->is_array())
        throw ConfigError(at + ".events must be a list of event names");
      if (events->get_array().empty())
        throw ConfigError(at + ".events is empty; leave it out to get every event");
      target.events = 0;
      for (const auto& name : events->get_array()) {
        const auto& names = kWebhookEventNames;
        const auto found =
            !name.is_string() ? names.end()
                              : std::find_if(names.begin(), names.end(), [&](const auto& n) {
                                  return n.first == std::string_view(name.get_string());
                                });
        if (found == names.end())
          throw ConfigError(at + ".events has " +
                            (name.is_string() ? "an unknown event `" +
                                                    herald::plugins::http::one_line(
                                                        std::string_view(name.get_string()), 64) +
                                                    "`"
                                              : std::string("a value that is not a string")) +
                            "; expected channel_occupied, channel_vacated, member_added, "
                            "member_removed, client_event");
        target.events |= static_cast<unsigned>(found->second);
      }
    }
    w.targets.push_back(std::move(target));
  }
  return w;
}

inline Settings read_settings(const herald::sdk::Config& config) {
  using herald::sdk::ConfigError;
  // Unknown keys first: a typo must not pass silently.
  boost::system::error_code ec;
  const boost::json::value all = boost::json::parse(config.json(), ec);
  if (!ec && all.is_object()) {
    for (const auto& item : all.get_object()) {
      const auto& known = settings_detail::kKnownKeys;
      if (std::find(known.begin(), known.end(), std::string_view(item.key())) == known.end())
        throw ConfigError("unknown setting `" + std::string(item.key()) +
                          "`; see the websocket driver's README for the keys it accepts");
    }
  }
  Settings s;
  s.connection = std::string(config.connection());
  auto required = [&](std::string_view key) {
    auto v = config.string(key);
    if (!v || v->empty()) throw ConfigError(config.describe(key) + " is required");
    return *v;
  };
  s.listen = parse_listen(required("listen"), config.describe("listen"));
  s.app_id = required("app_id");
  s.key = required("key");
  for (const auto* k : {&s.app_id, &s.key})
    for (char c : *k)
      if (!settings_detail::id_char(c))
        throw ConfigError(config.describe(k == &s.key ? "key" : "app_id") +
                          " may only hold A-Z a-z 0-9 _ - .");
  s.secret = required("secret");  // never echoed
  s.event = config.string_or("event", "message");
  if (s.event.empty() || s.event.size() > 200)
    throw ConfigError(config.describe("event") + " must be 1..200 characters");

  auto ranged = [&](std::string_view key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
    return settings_detail::ranged(config, key, fallback, lo, hi);
  };
  s.activity_timeout_s = static_cast<int>(ranged("activity_timeout_s", 30, 1, 3600));
  s.max_connections = static_cast<std::size_t>(ranged("max_connections", 0, 0, 10'000'000));
  s.max_message_bytes =
      static_cast<std::size_t>(ranged("max_message_bytes", 10240, 256, 16 * 1024 * 1024));
  s.max_channels_per_connection =
      static_cast<std::size_t>(ranged("max_channels_per_connection", 100, 1, 100'000));
  s.presence_max_members =
      static_cast<std::size_t>(ranged("presence_max_members", 100, 1, 1'000'000));
  s.presence_max_user_info_bytes =
      static_cast<std::size_t>(ranged("presence_max_user_info_bytes", 1024, 16, 1024 * 1024));
  s.client_events = config.boolean("client_events").value_or(true);
  s.console = config.boolean("console").value_or(true);
  s.client_events_per_second =
      static_cast<int>(ranged("client_events_per_second", 10, 1, 1'000'000));
  s.send_queue_bytes = static_cast<std::size_t>(
      ranged("send_queue_bytes", 1024 * 1024, 4096, std::int64_t(1) << 32));
  s.io_threads = static_cast<int>(ranged("io_threads", 1, 1, 256));
  ranged("timeout_ms", 5000, 1, 600000);

  if (const auto* e = config.find("allowed_origins")) {
    boost::json::value v = e->is_string ? boost::json::value() : boost::json::parse(
                                                                     herald::sdk::view(e->value), ec);
    if (ec || !v.is_array())
      throw ConfigError(config.describe("allowed_origins") + " must be a list of origins");
    for (const auto& o : v.get_array()) {
      if (!o.is_string() || o.get_string().empty())
        throw ConfigError(config.describe("allowed_origins") +
                          " must hold origins such as \"https://app.example\"");
      s.allowed_origins.emplace_back(o.get_string());
    }
  }
  s.webhooks = read_webhook_settings(config);  // webhooks

  if (auto bus = config.string("bus"); bus && !bus->empty()) {
    redis::Endpoint e = redis::parse_url(*bus, "bus");
    if (e.unix_socket)
      throw ConfigError(config.describe("bus") + ": the bus needs redis://HOST:PORT (TCP)");
    s.bus = std::move(e);
  }
  s.bus_prefix = config.string_or("bus_prefix", "herald:{app_id}:");
  if (const auto at = s.bus_prefix.find("{app_id}"); at != std::string::npos)
    s.bus_prefix.replace(at, 8, s.app_id);
  if (s.bus_prefix.size() > 200)
    throw ConfigError(config.describe("bus_prefix") + " must be at most 200 characters");
  s.bus_heartbeat_ms = static_cast<int>(ranged("bus_heartbeat_ms", 1000, 50, 60000));
  s.bus_node_timeout_ms = static_cast<int>(ranged("bus_node_timeout_ms", 5000, 200, 600000));
  if (s.bus_node_timeout_ms < 2 * s.bus_heartbeat_ms)
    throw ConfigError(config.describe("bus_node_timeout_ms") +
                      " must be at least twice bus_heartbeat_ms");
  s.bus_queue_bytes = static_cast<std::size_t>(
      ranged("bus_queue_bytes", 8 << 20, 64 * 1024, std::int64_t(1) << 32));

  // TLS: paths relative to the config file; both or neither. Only paths are ever quoted.
  auto path = [&](std::string_view key) -> std::string {
    const auto v = config.string(key);
    if (!v) return {};
    if (v->empty()) throw ConfigError(config.describe(key) + " is empty; remove it or give a path");
    if (v->front() != '/' && !config.base_dir().empty())
      return std::string(config.base_dir()) + "/" + *v;
    return *v;
  };
  s.tls_cert = path("tls_cert");
  s.tls_key = path("tls_key");
  s.tls_ca = path("tls_ca");
  if (s.tls_cert.empty() != s.tls_key.empty())
    throw ConfigError(config.describe(s.tls_cert.empty() ? "tls_key" : "tls_cert") +
                      " is set without " + (s.tls_cert.empty() ? "tls_cert" : "tls_key") +
                      ": TLS needs both (PEM certificate chain and private key)");
  if (!s.tls_ca.empty() && !s.tls())
    throw ConfigError(config.describe("tls_ca") +
                      " is set but TLS is off; it needs tls_cert and tls_key");
  s.tls_handshake_timeout_ms =
      static_cast<int>(ranged("tls_handshake_timeout_ms", 5000, 100, 60000));
  return s;
}

}  // namespace herald::websocket
