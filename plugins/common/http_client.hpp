// A small blocking HTTP/1.1 client on libcurl, shared by the HTTP drivers (centrifugo, pusher).
// Header-only: a plugin includes it and links CURL::libcurl.
//
// - Keep-alive: a pool of CURL easy handles behind a mutex. Each handle keeps its connection
//   open between requests; concurrent `publish` calls each take their own handle, so nothing
//   is shared by two transfers at once. Sequential calls reuse the same handle (LIFO), hence
//   the same TCP connection.
// - Connect and total timeouts per attempt.
// - Bounded retries with exponential backoff (plus jitter) for transport errors only: never
//   once the server has answered (any HTTP status is an answer). A request that was sent but
//   not answered (timeout, dropped connection) may have been processed, so it is retried only
//   when `retry_unanswered` is set (the driver knows whether its peer deduplicates).
// - Errors are one line naming the method and the URL without user info, query or fragment
//   (a Pusher query carries the signature), with every `redact` string replaced by "***".
// - curl_global_init runs once per plugin, thread-safely (a function-local static).
//
// The JSON-string helpers at the end are for building request bodies by hand.
#pragma once

#include <curl/curl.h>
#include <herald/driver.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/utf8.hpp"

namespace herald::plugins::http {

using Millis = std::chrono::milliseconds;

struct ClientOptions {
  Millis connect_timeout{2000};  // TCP (and TLS) connect, per attempt
  Millis timeout{5000};          // the whole attempt, connect included
  int retries = 2;               // extra attempts after a transport error
  Millis retry_backoff{100};     // first retry delay; doubled each time, capped
  Millis max_retry_backoff{2000};
  bool retry_unanswered = false;     // also retry a request that was sent but not answered
  std::size_t pool_size = 8;         // idle handles (= kept-alive connections) kept
  std::vector<std::string> headers;  // "Name: value" lines sent with every request
  std::vector<std::string> redact;   // never shown in an error message
  std::string ca_file;               // CA bundle for https (empty: the system's)
  std::size_t max_response_bytes = 1024 * 1024;
  std::string user_agent = "herald";
};

struct Response {
  long status = 0;
  std::string body;
  int attempts = 1;
};

// No HTTP answer after every allowed attempt (or a request that cannot be made at all).
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- Text helpers (no libcurl) ----

inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }

inline bool starts_with_nocase(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (ascii_lower(text[i]) != ascii_lower(prefix[i])) return false;
  return true;
}

// "" when `url` is an absolute http:// or https:// URL with a host (and a valid port, if any);
// otherwise why not, e.g. "must start with http:// or https://".
inline std::string check_http_url(std::string_view url) {
  std::string_view rest;
  if (starts_with_nocase(url, "http://"))
    rest = url.substr(7);
  else if (starts_with_nocase(url, "https://"))
    rest = url.substr(8);
  else
    return "must start with http:// or https://";
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
      return "must not contain spaces or control characters";
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "has an unterminated IPv6 address";
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "has a malformed host";
      port = authority.substr(close + 2);
      if (port.empty()) return "has an empty port";
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "has an empty port";
  }
  if (host.empty()) return "has no host";
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return "has an invalid port";
      value = value * 10 + unsigned(c - '0');
    }
    if (value == 0 || value > 65535) return "has an invalid port";
  }
  return {};
}

// scheme://host[:port]/path of `url`: user info, query and fragment dropped (they can carry
// credentials or signatures), so the result is safe in an error message.
inline std::string redact_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "<url>";
  const std::string_view scheme = url.substr(0, scheme_end + 3);
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const auto path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string out(scheme);
  out += authority;
  if (path_start != std::string_view::npos) out += rest.substr(path_start);
  return out;
}

// Replaces every occurrence of each non-empty secret by "***".
inline void scrub(std::string& text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3))
      text.replace(pos, secret.size(), "***");
  }
}

// `text` on one line: control characters become spaces, runs of spaces collapse, trimmed and
// cut at `max` bytes (with "...").
inline std::string one_line(std::string_view text, std::size_t max = 300) {
  std::string out;
  out.reserve(std::min(text.size(), max + 3));
  bool space = false;
  for (char c : text) {
    const bool blank = static_cast<unsigned char>(c) < 0x20 || c == ' ' || c == 0x7F;
    if (blank) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
    if (out.size() >= max) {
      out += "...";
      break;
    }
  }
  return out;
}

// Delay before retry number `retry` (1-based): base * 2^(retry-1), capped, then "equal jitter"
// (half fixed, half random) so clients that failed together do not retry together.
inline Millis backoff_delay(int retry, Millis base, Millis cap) {
  if (base.count() <= 0) return Millis(0);
  std::int64_t delay = base.count();
  for (int i = 1; i < retry && delay < cap.count(); ++i) delay *= 2;
  delay = std::min<std::int64_t>(delay, cap.count());
  thread_local std::minstd_rand random{std::random_device{}()};
  const std::int64_t half = delay / 2;
  return Millis(half + (half > 0 ? std::int64_t(random() % std::uint64_t(half + 1)) : 0));
}

// ---- JSON bodies ----

using herald::plugins::valid_utf8;

// Appends `text` as a JSON string literal. Returns false (leaving `out` unchanged) when `text` is
// not valid UTF-8, which no JSON peer would accept.
inline bool append_json_string(std::string& out, std::string_view text) {
  if (!valid_utf8(text)) return false;
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  std::size_t plain = 0;  // start of the run not yet copied
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(text.data() + plain, text.size() - plain);
  out += '"';
  return true;
}

// ---- Connection settings shared by the HTTP drivers ----

// Reads the transport settings every HTTP driver accepts (see the drivers' READMEs):
//   timeout_ms (5000), connect_timeout_ms (min(2000, timeout_ms)), retries (2),
//   retry_backoff_ms (100), pool_size (8), ca_file (path, relative to the config file).
// `retry_unanswered` comes from the driver. Throws herald::sdk::ConfigError naming the key.
inline ClientOptions read_client_options(const herald::sdk::Config& config) {
  auto ranged = [&](std::string_view key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
    const std::int64_t v = config.integer(key).value_or(fallback);
    if (v < lo || v > hi)
      throw herald::sdk::ConfigError(config.describe(key) + " is " + std::to_string(v) +
                                     "; expected " + std::to_string(lo) + ".." +
                                     std::to_string(hi));
    return v;
  };
  ClientOptions o;
  o.timeout = Millis(ranged("timeout_ms", 5000, 1, 600000));
  o.connect_timeout = Millis(
      ranged("connect_timeout_ms", std::min<std::int64_t>(2000, o.timeout.count()), 1, 600000));
  o.retries = static_cast<int>(ranged("retries", 2, 0, 10));
  o.retry_backoff = Millis(ranged("retry_backoff_ms", 100, 0, 60000));
  o.max_retry_backoff = std::max(o.max_retry_backoff, o.retry_backoff);
  o.pool_size = static_cast<std::size_t>(ranged("pool_size", 8, 1, 1024));
  if (auto ca = config.string("ca_file")) {
    if (ca->empty()) throw herald::sdk::ConfigError(config.describe("ca_file") + " is empty");
    o.ca_file = *ca;
    if (o.ca_file.front() != '/' && !config.base_dir().empty())
      o.ca_file = std::string(config.base_dir()) + "/" + o.ca_file;
  }
  return o;
}

// ---- The client ----

namespace detail {

inline void global_init() {
  // Once per plugin: thread-safe since C++11 statics, and libcurl >= 7.84 counts init calls
  // from several plugins in one process. Never cleaned up: other code may still use libcurl.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    throw TransportError(std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc));
}

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

// One easy handle with its own error buffer and response sink.
struct Easy {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string url;  // the last CURLOPT_URL: setting it again costs a URL parse
  std::thread::id owner;  // the thread that used it last
  std::string* body = nullptr;
  std::size_t limit = 0;
  bool overflow = false;

  Easy() = default;
  Easy(const Easy&) = delete;
  Easy& operator=(const Easy&) = delete;
  ~Easy() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }

  static std::size_t write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Easy*>(user);
    const std::size_t n = size * count;
    if (self->body->size() + n > self->limit) {
      self->overflow = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    self->body->append(data, n);
    return n;
  }
};

// Transport failures worth another attempt; anything else (bad URL, TLS verification, out of
// memory...) fails the same way every time.
inline bool transient(CURLcode rc) noexcept {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

}  // namespace detail

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options) : options_(std::move(options)) {
    detail::global_init();
    curl_slist* list = nullptr;
    auto add = [&](const std::string& line) {
      curl_slist* next = curl_slist_append(list, line.c_str());
      if (next == nullptr) {
        curl_slist_free_all(list);
        throw std::bad_alloc();
      }
      list = next;
    };
    for (const std::string& h : options_.headers) add(h);
    add("Expect:");  // no 100-continue round trip for larger bodies
    headers_.reset(list);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const ClientOptions& options() const noexcept { return options_; }

  // POSTs `body` to `url`. Any HTTP status is a Response; throws TransportError when no answer
  // came after every allowed attempt. Thread-safe.
  Response post(const std::string& url, std::string_view body) const { return perform(url, &body); }
  // GETs `url` (health probes). Same contract as post().
  Response get(const std::string& url) const { return perform(url, nullptr); }

  // Why the last request got no answer, or "" when it got one (or none was made yet).
  std::string transport_problem() const {
    std::lock_guard lock(state_mutex_);
    return problem_;
  }

  // Kept-alive handles waiting in the pool (tests, diagnostics).
  std::size_t idle_handles() const {
    std::lock_guard lock(pool_mutex_);
    return idle_.size();
  }

 private:
  using EasyPtr = std::unique_ptr<detail::Easy>;

  EasyPtr acquire() const {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        // Prefer the handle this thread used last: a thread keeps talking over the same
        // connection (and the same peer thread), which the kernel schedules much better than
        // connections shuffled between threads. Otherwise the most recently used one.
        const std::thread::id self = std::this_thread::get_id();
        std::size_t pick = idle_.size() - 1;
        for (std::size_t i = idle_.size(); i-- > 0;)
          if (idle_[i]->owner == self) {
            pick = i;
            break;
          }
        EasyPtr e = std::move(idle_[pick]);
        idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(pick));
        e->owner = self;
        return e;
      }
    }
    auto e = std::make_unique<detail::Easy>();
    e->owner = std::this_thread::get_id();
    e->curl = curl_easy_init();
    if (e->curl == nullptr) throw TransportError("libcurl could not create a handle");
    CURL* c = e->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &detail::Easy::write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, e.get());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(options_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    return e;
  }

  void release(EasyPtr e) const {
    std::lock_guard lock(pool_mutex_);
    if (idle_.size() < options_.pool_size) idle_.push_back(std::move(e));
    // else: destroyed here, closing its connection
  }

  Response perform(const std::string& url, const std::string_view* body) const {
    const char* method = body != nullptr ? "POST" : "GET";
    EasyPtr e = acquire();
    Response response;
    std::string failure;
    for (int attempt = 1;; ++attempt) {
      response.body.clear();
      response.attempts = attempt;
      e->error[0] = '\0';
      e->body = &response.body;
      e->limit = options_.max_response_bytes;
      e->overflow = false;
      CURL* c = e->curl;
      if (e->url != url) {
        e->url = url;
        curl_easy_setopt(c, CURLOPT_URL, e->url.c_str());
      }
      if (body != nullptr) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body->size()));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->empty() ? "" : body->data());
      } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
      }
      const CURLcode rc = curl_easy_perform(c);
      long status = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
      long sent = 0;  // request bytes written: 0 means the peer cannot have acted on it
      curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
      e->body = nullptr;
      if (rc == CURLE_OK) {
        response.status = status;
        if (has_problem_.load(std::memory_order_relaxed)) set_problem({});
        release(std::move(e));
        return response;
      }
      std::string reason =
          e->overflow
              ? "reply larger than " + std::to_string(options_.max_response_bytes) + " bytes"
              : (e->error[0] != '\0' ? std::string(e->error) : curl_easy_strerror(rc));
      failure = std::string(method) + " " + redact_url(url) + ": " + one_line(reason);
      // Retry only while nothing was answered, and a sent request only when allowed.
      const bool answered = status != 0;
      const bool may_retry = !answered && detail::transient(rc) &&
                             (sent == 0 || options_.retry_unanswered) &&
                             attempt <= options_.retries;
      if (!may_retry) break;
      std::this_thread::sleep_for(
          backoff_delay(attempt, options_.retry_backoff, options_.max_retry_backoff));
    }
    if (response.attempts > 1) failure += " (" + std::to_string(response.attempts) + " attempts)";
    scrub(failure, options_.redact);
    set_problem(failure);
    release(std::move(e));
    throw TransportError(failure);
  }

  void set_problem(std::string problem) const {
    std::lock_guard lock(state_mutex_);
    has_problem_.store(!problem.empty(), std::memory_order_relaxed);
    problem_ = std::move(problem);
  }

  ClientOptions options_;
  std::unique_ptr<curl_slist, detail::SlistDeleter> headers_;
  mutable std::mutex pool_mutex_;
  mutable std::vector<EasyPtr> idle_;
  mutable std::mutex state_mutex_;
  mutable std::string problem_;
  mutable std::atomic<bool> has_problem_{false};  // spares the lock on the usual success path
};

}  // namespace herald::plugins::http
