#include "server/server_config.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <array>

#include <boost/asio/ip/address.hpp>

#include "core/errors.hpp"
#include "core/text.hpp"

namespace herald {

std::string ListenAddress::str() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(std::string_view text, const std::string& what) {
  auto fail = [&](const std::string& why) -> ListenAddress {
    throw ConfigException(what + " `" + printable(text) + "` " + why +
                          " (expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("has no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return fail("needs brackets around an IPv6 address");
  ListenAddress out;
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  if (out.host == "localhost") out.host = "127.0.0.1";
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(out.host, ec);
  if (ec) return fail("is not an IP address and port");
  unsigned port = 0;
  const auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return fail("has a bad port");
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

namespace {

class Reader {
 public:
  Reader(const BroadcastConfig& config, const toml::table& table)
      : config_(config), table_(table) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& what) const {
    throw ConfigException(config_.position_of(node).prefix(what));
  }

  const toml::node* get(std::string_view key, toml::node_type type, std::string_view type_text) const {
    const toml::node* node = table_.get(key);
    if (node != nullptr && node->type() != type)
      fail(*node, "`server." + std::string(key) + "` must be " + std::string(type_text));
    return node;
  }

  template <class T>
  void integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) const {
    const toml::node* node = get(key, toml::node_type::integer, "an integer");
    if (node == nullptr) return;
    const std::int64_t v = node->as_integer()->get();
    if (v < min || v > max)
      fail(*node, "`server." + std::string(key) + "` must be between " + std::to_string(min) +
                      " and " + std::to_string(max));
    out = static_cast<T>(v);
  }
  void millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t max) const {
    std::int64_t v = out.count();
    integer(key, v, 1, max);
    out = std::chrono::milliseconds(v);
  }
  void boolean(std::string_view key, bool& out) const {
    if (const toml::node* node = get(key, toml::node_type::boolean, "a boolean"))
      out = node->as_boolean()->get();
  }
  // A string or an array of strings.
  void strings(std::string_view key, std::vector<std::string>& out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (const auto* s = node->as_string()) {
      out.push_back(s->get());
      return;
    }
    const auto* array = node->as_array();
    if (array == nullptr)
      fail(*node, "`server." + std::string(key) + "` must be a string or an array of strings");
    for (const toml::node& item : *array) {
      if (!item.is_string())
        fail(item, "`server." + std::string(key) + "` must hold only strings");
      out.push_back(item.as_string()->get());
    }
  }

 private:
  const BroadcastConfig& config_;
  const toml::table& table_;
};

constexpr std::array<std::string_view, 25> kKeys = {
    "listen",        "io_threads",    "worker_threads",   "api_key",
    "insecure_no_api_key", "body_limit", "header_limit", "request_timeout_ms",
    "shutdown_timeout_ms", "cors_origins", "access_log",  "log_format",
    "authorize_threads", "queue_limit", "queue_timeout_ms", "health_refresh_ms",
    "max_connections", "max_connections_per_ip", "max_requests_per_connection",
    "max_connection_age_ms", "max_deliveries_per_publish", "authorize_rate_per_ip",
    "unauthorized_rate_per_ip", "tls_cert", "tls_key"};

}  // namespace

std::string server_listen_origin(const BroadcastConfig& config) {
  const toml::node* listen = config.document()["server"]["listen"].node();
  if (listen == nullptr) return "the default `[server] listen`";
  return "`[server] listen` (" + config.position_of(*listen).str() + ")";
}

namespace {

enum class Collision { none, same, overlap };

// Whether two listeners on these addresses could not both bind.
Collision collide(const ListenAddress& a, const ListenAddress& b) {
  if (a.port == 0 || b.port == 0 || a.port != b.port) return Collision::none;
  boost::system::error_code ec_a, ec_b;
  const auto x = boost::asio::ip::make_address(a.host, ec_a);
  const auto y = boost::asio::ip::make_address(b.host, ec_b);
  if (ec_a || ec_b) return a.host == b.host ? Collision::same : Collision::none;
  if (x == y) return Collision::same;
  if (x.is_v4() == y.is_v4() && (x.is_unspecified() || y.is_unspecified()))
    return Collision::overlap;
  return Collision::none;
}

// "both listen on A" or "listen on overlapping addresses A and B" (a wildcard and another).
std::string describe(Collision c, const ListenAddress& a, const ListenAddress& b) {
  return c == Collision::same ? "both listen on " + a.str()
                              : "listen on overlapping addresses " + a.str() + " and " + b.str();
}

}  // namespace

std::vector<std::string> listen_conflicts(const BroadcastConfig& config,
                                          const std::optional<ListenAddress>& server,
                                          const std::string& server_origin) {
  struct Listener {
    std::string connection;
    ListenAddress address;
    SourcePosition where;
  };
  std::vector<Listener> seen;
  std::vector<std::string> out;
  const toml::table* connections = config.document().get_as<toml::table>("connections");
  if (connections == nullptr) return out;
  for (const auto& name : config.connection_names()) {
    const toml::table* table = connections->get_as<toml::table>(name);
    const toml::node* node = table != nullptr ? table->get("listen") : nullptr;
    if (node == nullptr || !node->is_string()) continue;  // not a listener, or the driver's call
    Listener current{name, {}, config.position_of(*node)};
    try {
      current.address = parse_listen_address(node->as_string()->get(), "`listen`");
    } catch (const ConfigException&) {
      continue;  // the driver's own validation says what is wrong with it
    }
    // One line per connection: the server first, else the first earlier connection.
    if (const Collision c = server ? collide(current.address, *server) : Collision::none;
        c != Collision::none) {
      out.push_back(current.where.prefix("connection `" + name + "` and `herald serve` (" +
                                         server_origin + ") " +
                                         describe(c, current.address, *server) +
                                         "; give each its own address"));
    } else {
      for (const Listener& earlier : seen) {
        const Collision e = collide(earlier.address, current.address);
        if (e == Collision::none) continue;
        out.push_back(current.where.prefix("connections `" + earlier.connection + "` (" +
                                           earlier.where.str() + ") and `" + name + "` " +
                                           describe(e, earlier.address, current.address) +
                                           "; give each its own address"));
        break;
      }
    }
    seen.push_back(std::move(current));
  }
  return out;
}

ServerConfig parse_server_config(const BroadcastConfig& config) {
  ServerConfig out;
  const toml::node* node = config.document().get("server");
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr)
    throw ConfigException(config.position_of(*node).prefix("`server` must be a table"));
  Reader read(config, *table);
  for (auto&& [key, value] : *table) {
    if (std::find(kKeys.begin(), kKeys.end(), key.str()) == kKeys.end()) {
      std::string list;
      for (auto k : kKeys) list += (list.empty() ? "" : ", ") + std::string(k);
      read.fail(value, "unknown key `server." + printable(key.str()) + "` (expected one of " +
                           list + ")");
    }
  }
  if (const toml::node* listen = read.get("listen", toml::node_type::string, "a string")) {
    try {
      out.listen = parse_listen_address(listen->as_string()->get(), "`server.listen`");
    } catch (const ConfigException& e) {
      read.fail(*listen, e.what());
    }
  }
  read.integer("io_threads", out.io_threads, 0, 256);
  read.integer("worker_threads", out.worker_threads, 0, 1024);
  read.integer("authorize_threads", out.authorize_threads, 1, 1024);
  read.integer("queue_limit", out.queue_limit, 1, 1000000);
  read.millis("queue_timeout_ms", out.queue_timeout, 3600 * 1000);
  read.millis("health_refresh_ms", out.health_refresh, 3600 * 1000);
  read.integer("max_connections", out.max_connections, 0, 10000000);
  read.integer("max_connections_per_ip", out.max_connections_per_ip, 0, 10000000);
  read.integer("max_requests_per_connection", out.max_requests_per_connection, 0,
               std::int64_t{1} << 40);
  {
    std::int64_t age = out.max_connection_age.count();
    read.integer("max_connection_age_ms", age, 0, std::int64_t{24} * 3600 * 1000);
    out.max_connection_age = std::chrono::milliseconds(age);
  }
  read.integer("max_deliveries_per_publish", out.max_deliveries_per_publish, 1,
               std::int64_t{1} << 32);
  read.integer("authorize_rate_per_ip", out.authorize_rate_per_ip, 0, 1000000);
  read.integer("unauthorized_rate_per_ip", out.unauthorized_rate_per_ip, 0, 1000000);
  read.strings("api_key", out.api_keys);
  // `${HERALD_API_KEY:-}` left unset yields "": an empty key never opens the API.
  out.api_keys.erase(std::remove(out.api_keys.begin(), out.api_keys.end(), std::string()),
                     out.api_keys.end());
  read.boolean("insecure_no_api_key", out.insecure_no_api_key);
  read.integer("body_limit", out.body_limit, 1024, std::int64_t{1} << 30);
  read.integer("header_limit", out.header_limit, 1024, 1024 * 1024);
  read.millis("request_timeout_ms", out.request_timeout, 3600 * 1000);
  read.millis("shutdown_timeout_ms", out.shutdown_timeout, 3600 * 1000);
  read.strings("cors_origins", out.cors_origins);
  // An origin is "*" or scheme://host[:port]. `null` (sandboxed frames, file: pages, redirects)
  // is shared by every such page, so allowing it would allow them all.
  for (const auto& origin : out.cors_origins) {
    const size_t host = origin.find("://") == std::string::npos ? 0 : origin.find("://") + 3;
    const bool ok = origin == "*" ||
                    ((origin.rfind("http://", 0) == 0 || origin.rfind("https://", 0) == 0) &&
                     origin.size() > host && origin.find('/', host) == std::string::npos);
    if (!ok)
      read.fail(*table->get("cors_origins"), "`server.cors_origins`: `" + printable(origin) +
                            "` is not \"*\" or an origin such as https://app.example" +
                            (origin == "null" ? " (the `null` origin is never allowed)" : ""));
  }
  read.boolean("access_log", out.access_log);
  if (const toml::node* f = read.get("log_format", toml::node_type::string, "a string")) {
    const std::string& v = f->as_string()->get();
    if (v == "text")
      out.log_format = LogFormat::text;
    else if (v == "json")
      out.log_format = LogFormat::json;
    else
      read.fail(*f, "`server.log_format` must be \"text\" or \"json\"");
  }
  // TLS: both paths or neither (one alone would silently serve plain HTTP).
  const toml::node* cert = read.get("tls_cert", toml::node_type::string, "a string (a PEM file)");
  const toml::node* key = read.get("tls_key", toml::node_type::string, "a string (a PEM file)");
  auto path = [&](const toml::node& value, std::string_view name) {
    const std::string& text = value.as_string()->get();
    if (text.empty()) read.fail(value, "`server." + std::string(name) + "` is empty");
    const std::filesystem::path p(text);
    return (p.is_absolute() ? p : config.base_dir() / p).lexically_normal().string();
  };
  if ((cert == nullptr) != (key == nullptr))
    read.fail(cert != nullptr ? *cert : *key,
              cert != nullptr ? "`server.tls_cert` is set without `server.tls_key`: set both "
                                "(HTTPS) or neither (plain HTTP)"
                              : "`server.tls_key` is set without `server.tls_cert`: set both "
                                "(HTTPS) or neither (plain HTTP)");
  if (cert != nullptr) {
    out.tls_cert = path(*cert, "tls_cert");
    out.tls_key = path(*key, "tls_key");
  }
  return out;
}

}  // namespace herald
