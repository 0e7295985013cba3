// The `[server]` table of broadcasting.toml: what `herald serve` listens on and its limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/broadcast_config.hpp"

namespace herald {

struct ListenAddress {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal ("::1", "0.0.0.0")
  std::uint16_t port = 8080;       // 0 = any free port
  std::string str() const;         // "127.0.0.1:8080", "[::1]:8080"
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces); throws ConfigException naming `what`.
ListenAddress parse_listen_address(std::string_view text, const std::string& what);

enum class LogFormat { text, json };

struct ServerConfig {
  ListenAddress listen;
  unsigned io_threads = 0;      // 0 = one per core
  // Bounded worker lanes, so one kind of request can never starve another: publish runs on
  // `worker_threads`, the authorize path on `authorize_threads`, /metrics on one thread of its
  // own. 0 worker_threads = every handler inline on the I/O threads (log/null only).
  unsigned worker_threads = 4;
  unsigned authorize_threads = 2;
  std::size_t queue_limit = 256;                     // per lane; a full lane answers 503
  std::chrono::milliseconds queue_timeout{5000};     // longer in a queue: 503, never run
  std::chrono::milliseconds health_refresh{1000};    // /healthz is a cache refreshed this often
  std::size_t max_connections = 4096;                // 0 = no limit
  std::size_t max_connections_per_ip = 512;          // 0 = no limit
  std::size_t max_requests_per_connection = 1000;    // then Connection: close; 0 = no limit
  std::chrono::milliseconds max_connection_age{600000};  // then Connection: close; 0 = none
  std::size_t max_deliveries_per_publish = 10000;    // topics x messages of one publish (413)
  // Per client address, token buckets (a second's worth of burst); beyond them 429. 0 = off.
  unsigned authorize_rate_per_ip = 100;    // authorize requests a second
  unsigned unauthorized_rate_per_ip = 10;  // 401 answers a second; then every request is 429
  std::vector<std::string> api_keys;  // any of them opens the publish API
  bool insecure_no_api_key = false;   // no key configured and this false: the API is refused
  std::size_t body_limit = 1024 * 1024;     // bytes; larger bodies get 413
  std::size_t header_limit = 16 * 1024;     // bytes; larger headers get 431
  std::chrono::milliseconds request_timeout{10000};   // a whole request, and keep-alive idle
  std::chrono::milliseconds shutdown_timeout{10000};  // in-flight requests on SIGTERM
  std::vector<std::string> cors_origins;  // for the authorize path; "*" = any origin
  bool access_log = true;                 // one info line per request
  LogFormat log_format = LogFormat::text;
  // HTTPS only when both are set (absolute, resolved against the config file's directory):
  // PEM certificate chain and unencrypted PEM private key. Re-read on SIGHUP.
  std::string tls_cert, tls_key;
  bool tls() const noexcept { return !tls_cert.empty(); }
};

// Reads `[server]` (every key optional). Throws ConfigException "file:line:col: ..." for a
// wrong type, an unknown key or an out-of-range value.
ServerConfig parse_server_config(const BroadcastConfig& config);

// Where `herald serve` takes its address from, for messages: "`[server] listen`
// (file:line:col)", or "the default `[server] listen`" when the file does not set it.
std::string server_listen_origin(const BroadcastConfig& config);

// Connections whose string `listen` (an address the driver binds, e.g. `websocket`) collides
// with `server` (where `herald serve` listens, described by `server_origin`) or with the
// `listen` of an earlier connection: the same HOST:PORT, or the same port where one side is
// the wildcard address of the same family (0.0.0.0, ::). Port 0 never collides; values that
// do not parse are left to the driver's own validation. One line per collision, prefixed with
// the `listen` key's file:line:col, naming both sides and the address; empty when none.
// `server` nullopt checks connections against each other only.
std::vector<std::string> listen_conflicts(const BroadcastConfig& config,
                                          const std::optional<ListenAddress>& server,
                                          const std::string& server_origin);

}  // namespace herald
