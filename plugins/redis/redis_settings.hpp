// Settings of the `redis` driver: the connection URL (TCP or unix socket, credentials, database),
// the wire format and the timeouts, parsed and checked without touching the network so that
// `herald check` (validate) and the unit tests can use them. Header-only, no hiredis.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "common/redis/redis_endpoint.hpp"

namespace herald::redis {

using herald::sdk::ConfigError;

enum class Format { raw, laravel };

struct Settings {
  Endpoint endpoint;
  Format format = Format::raw;
  std::string prefix;             // prepended to every topic (Laravel: the Redis key prefix)
  std::string event = "message";  // the event of messages without an envelope (laravel format)
  int connect_timeout_ms = 2000;  // TCP/unix connect, per attempt
  int timeout_ms = 5000;          // waiting for Redis to answer a call (per read)
  int pool_size = 4;              // connections for concurrent publishers, opened on demand
};

inline std::optional<Format> parse_format(std::string_view name) {
  if (name == "raw") return Format::raw;
  if (name == "laravel") return Format::laravel;
  return std::nullopt;
}

// A misspelt key (`formt = "laravel"`) would silently fall back to a default: refuse it.
inline void check_known_keys(const herald::sdk::Config& config) {
  static constexpr std::string_view kKnown[] = {
      "driver", "url",   "username",           "password",   "format",
      "prefix", "event", "connect_timeout_ms", "timeout_ms", "pool_size"};
  boost::system::error_code ec;
  const boost::json::value table = boost::json::parse(config.json(), ec);
  if (ec || !table.is_object()) return;  // the host always sends an object; nothing to check
  for (const auto& item : table.get_object()) {
    bool known = false;
    for (std::string_view k : kKnown) known = known || k == item.key();
    if (!known)
      throw ConfigError("unknown setting `" + std::string(item.key()) +
                        "`; expected url, username, password, format, prefix, event, "
                        "connect_timeout_ms, timeout_ms or pool_size");
  }
}

// Reads and checks every setting of a [connections.<name>] table with driver = "redis".
inline Settings read_settings(const herald::sdk::Config& config) {
  check_known_keys(config);
  Settings s;
  s.endpoint = parse_url(config.string_or("url", "redis://127.0.0.1:6379/0"));
  // Separate keys win over the URL's credentials, so the secret can come from ${ENV} alone.
  if (auto user = config.string("username")) s.endpoint.username = *user;
  if (auto password = config.string("password")) s.endpoint.password = *password;
  if (!s.endpoint.username.empty() && s.endpoint.password.empty())
    throw ConfigError("`username` needs a password (in the url or `password`)");

  const std::string format = config.string_or("format", "raw");
  if (auto f = parse_format(format))
    s.format = *f;
  else
    throw ConfigError("`format` is `" + format + "`; expected raw or laravel");
  s.prefix = config.string_or("prefix", "");
  s.event = config.string_or("event", "message");
  if (s.event.empty()) throw ConfigError("`event` must not be empty");

  auto positive = [&](std::string_view key, int fallback, std::int64_t max) {
    auto v = config.integer(key);
    if (!v) return fallback;
    if (*v < 1 || *v > max)
      throw ConfigError(config.describe(key) + " is " + std::to_string(*v) + "; expected 1 to " +
                        std::to_string(max));
    return static_cast<int>(*v);
  };
  s.connect_timeout_ms = positive("connect_timeout_ms", s.connect_timeout_ms, 600000);
  s.timeout_ms = positive("timeout_ms", s.timeout_ms, 600000);
  s.pool_size = positive("pool_size", s.pool_size, 64);
  return s;
}

}  // namespace herald::redis
