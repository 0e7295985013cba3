// Where a Redis server is (redis:// and unix:// URLs, credentials, database), parsed without
// touching the network, and the RESP encoding of a bulk string. Shared by the `redis` driver and
// the `websocket` driver's cluster bus. Header-only, no hiredis.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <herald/driver.hpp>

namespace herald::redis {

using herald::sdk::ConfigError;

// Where Redis is and how to log in. `password` is a secret: it never appears in a message
// (use masked_url() / address() for those).
struct Endpoint {
  bool unix_socket = false;
  std::string host = "127.0.0.1";  // TCP only; without the brackets of an IPv6 literal
  int port = 6379;                 // TCP only
  std::string path;                // unix socket only
  std::string username;            // Redis 6 ACL user; empty = the default user
  std::string password;            // empty = no AUTH
  int db = 0;

  // "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock": for error messages.
  std::string address() const {
    if (unix_socket) return "unix:" + path;
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
  }

  // The URL with the password replaced by ***, safe for logs.
  std::string masked_url() const {
    std::string credentials;
    if (!password.empty())
      credentials = username + ":***@";
    else if (!username.empty())
      credentials = username + "@";
    if (unix_socket) {
      std::string out = "unix://" + credentials + path;
      if (db != 0) out += "?db=" + std::to_string(db);
      return out;
    }
    return "redis://" + credentials + address() + "/" + std::to_string(db);
  }
};

namespace detail {

inline bool parse_int(std::string_view text, long long max, long long& out) {
  if (text.empty() || text.size() > 18) return false;
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > max) return false;
  out = value;
  return true;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding (a password may contain '@', ':' or '/' written as %40, %3A, %2F).
inline bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

[[noreturn]] inline void bad_url(const std::string& why) {
  // Never quote the URL itself: it may hold a password.
  throw ConfigError("`url` " + why +
                    "; expected redis://[[user]:password@]host[:port][/db] or "
                    "unix://[[user]:password@]/path/to/redis.sock[?db=N]");
}

inline int parse_db(std::string_view text) {
  long long db = 0;
  if (!parse_int(text, 2147483647LL, db))
    bad_url("has a bad database number (a number 0 or more)");  // not quoted, as the port
  return static_cast<int>(db);
}

// "[user]:password" -> endpoint.username/password (both percent-decoded).
inline void parse_userinfo(std::string_view info, Endpoint& out) {
  const size_t colon = info.find(':');
  std::string_view user = info.substr(0, colon);
  std::string_view pass =
      colon == std::string_view::npos ? std::string_view{} : info.substr(colon + 1);
  if (!percent_decode(user, out.username) || !percent_decode(pass, out.password))
    bad_url("has a bad %-escape in its user or password");
}

// The scheme of `url` (redis or unix, recorded in out.unix_socket); returns what follows "://".
inline std::string_view split_scheme(std::string_view url, Endpoint& out) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) bad_url("has no scheme");
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme == "rediss")
    throw ConfigError(
        "`url`: TLS (rediss://) is not supported by this driver; use redis:// (through a TLS "
        "tunnel such as stunnel if Redis is remote)");
  if (scheme != "redis" && scheme != "unix") {
    // Quoted only when it looks like a scheme: "user:pass@host://..." must not echo the pass.
    const bool plain = scheme.size() <= 16 &&
                       scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+.-") ==
                           std::string_view::npos;
    bad_url(plain ? "has the scheme `" + std::string(scheme) + "`" : "has a bad scheme");
  }
  out.unix_socket = scheme == "unix";
  return url.substr(scheme_end + 3);
}

// After unix://: [[user]:password@]/path[?db=N].
inline void parse_unix_rest(std::string_view rest, Endpoint& out) {
  // Credentials end at the last '@' before the path: a raw '@' in a password still works.
  const size_t slash = rest.find('/');
  const size_t at = rest.substr(0, slash).rfind('@');
  if (at != std::string_view::npos) {
    parse_userinfo(rest.substr(0, at), out);
    rest = rest.substr(at + 1);
  }
  if (rest.empty() || rest[0] != '/') bad_url("needs an absolute socket path after unix://");
  const size_t query = rest.find('?');
  out.path = std::string(rest.substr(0, query));
  if (out.path.size() < 2) bad_url("needs an absolute socket path after unix://");
  if (query != std::string_view::npos) {
    std::string_view q = rest.substr(query + 1);
    if (q.substr(0, 3) != "db=") bad_url("accepts only `?db=N` after the socket path");
    out.db = parse_db(q.substr(3));
  }
}

// host[:port] or [ipv6][:port] -> out.host, out.port.
inline void parse_authority(std::string_view authority, Endpoint& out) {
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) bad_url("has an unclosed `[` in its host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url("has text after its IPv6 host");
      port = after.substr(1);
      if (port.empty()) bad_url("has an empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) bad_url("has an empty port");
    }
  }
  if (host.empty()) bad_url("has no host");
  out.host = std::string(host);
  if (!port.empty()) {
    long long p = 0;
    if (!parse_int(port, 65535, p) || p == 0)
      bad_url("has a bad port (a number 1-65535)");  // not quoted: it may be a misparsed password
    out.port = static_cast<int>(p);
  }
}

// After redis://: [[user]:password@]host[:port][/db].
inline void parse_tcp_rest(std::string_view rest, Endpoint& out) {
  // The credentials end at the last '@' of the whole rest, not of the part before the first
  // '/': no host, port or db contains an '@', while a raw password may hold '/', '?' or '#'
  // (which would otherwise cut it and show its tail as the "port" or "database").
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    parse_userinfo(rest.substr(0, at), out);
    rest = rest.substr(at + 1);
  }
  const size_t path_start = rest.find_first_of("/?#");
  parse_authority(rest.substr(0, path_start), out);
  if (path_start == std::string_view::npos) return;
  std::string_view path = rest.substr(path_start);
  if (path[0] != '/') bad_url("accepts no query or fragment");
  path.remove_prefix(1);
  if (!path.empty()) out.db = parse_db(path);
}

// Parses redis://[[user]:password@]host[:port][/db] and unix://[[user]:password@]/path[?db=N].
// Throws ConfigError naming `url` (never quoting the password).
inline Endpoint parse_url_of_key_url(std::string_view url) {
  Endpoint out;
  const std::string_view rest = split_scheme(url, out);
  if (out.unix_socket)
    parse_unix_rest(rest, out);
  else
    parse_tcp_rest(rest, out);
  return out;
}

}  // namespace detail

// parse_url for the setting `key`: its errors name that key instead of `url`.
inline Endpoint parse_url(std::string_view url, std::string_view key = "url") {
  try {
    return detail::parse_url_of_key_url(url);
  } catch (const ConfigError& e) {
    if (key == "url") throw;
    std::string message = e.what();
    if (message.starts_with("`url`")) message.replace(0, 5, "`" + std::string(key) + "`");
    throw ConfigError(message);
  }
}

// Appends one RESP bulk string: $<len>\r\n<bytes>\r\n (a and b concatenated).
inline void append_bulk(std::string& out, std::string_view a, std::string_view b = {}) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, a.size() + b.size());
  (void)ec;  // 24 digits always fit a size_t
  out += '$';
  out.append(digits, end);
  out += "\r\n";
  out += a;
  out += b;
  out += "\r\n";
}

}  // namespace herald::redis
