// herald/driver.hpp - header-only C++ wrapper over the C ABI in driver.h (C++20).
//
// Write a class that derives from herald::sdk::Broadcast (and herald::sdk::Guard to authorize,
// herald::sdk::HealthCheck to report health, herald::sdk::MetricsSource to add metrics),
// give it a constructor `(const herald::sdk::Host&, const herald::sdk::Config&)`, optionally a
// `static void validate(const herald::sdk::Config&)`, and export it with one line:
//
//   HERALD_DRIVER(MyDriver, "my-driver", "1.0.0", "What it does")
//
// The macro defines the two exported C symbols and thunks that catch every exception at the
// boundary, so nothing C++ crosses into the host. Include this in exactly one .cpp per plugin.
#pragma once

#include <herald/driver.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::sdk {

using Texts = std::span<const std::string_view>;

inline std::string_view view(herald_str s) noexcept {
  return s.size == 0 ? std::string_view{} : std::string_view{s.data, s.size};
}
inline herald_str str(std::string_view s) noexcept { return herald_str{s.data(), s.size()}; }

enum class LogLevel : int {
  trace = HERALD_LOG_TRACE,
  debug = HERALD_LOG_DEBUG,
  info = HERALD_LOG_INFO,
  warn = HERALD_LOG_WARN,
  error = HERALD_LOG_ERROR,
  critical = HERALD_LOG_CRITICAL,
};

// Throw from a driver to fail with a specific status; any other exception maps to
// HERALD_E_FAILED (std::exception) or HERALD_E_EXCEPTION (anything else).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, herald_status status = HERALD_E_FAILED)
      : std::runtime_error(message), status_(status) {}
  herald_status status() const noexcept { return status_; }

 private:
  herald_status status_;
};

class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(message, HERALD_E_CONFIG) {}
};

class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message)
      : Error(message, HERALD_E_INVALID_ARGUMENT) {}
};

// Read-only view of a connection's configuration; valid only during create/validate.
class Config {
 public:
  explicit Config(const herald_config* c) noexcept : c_(c) {}

  std::string_view connection() const noexcept { return view(c_->connection); }
  std::string_view json() const noexcept { return view(c_->json); }
  std::string_view source() const noexcept { return view(c_->source); }
  std::string_view base_dir() const noexcept { return view(c_->base_dir); }

  const herald_config_entry* find(std::string_view key) const noexcept {
    for (size_t i = 0; i < c_->entry_count; ++i)
      if (view(c_->entries[i].key) == key) return &c_->entries[i];
    return nullptr;
  }
  bool has(std::string_view key) const noexcept { return find(key) != nullptr; }

  // A string setting; throws ConfigError when present but not a string.
  std::optional<std::string> string(std::string_view key) const {
    const herald_config_entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    if (!e->is_string) throw ConfigError(describe(key) + " must be a string");
    return std::string(view(e->value));
  }
  std::string string_or(std::string_view key, std::string_view fallback) const {
    auto v = string(key);
    return v ? *v : std::string(fallback);
  }
  // An integer setting; throws ConfigError when present but not an integer.
  std::optional<std::int64_t> integer(std::string_view key) const {
    const herald_config_entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    std::string_view v = view(e->value);
    std::int64_t out = 0;
    bool ok = !e->is_string && !v.empty();
    size_t i = (ok && v[0] == '-') ? 1 : 0;
    ok = ok && i < v.size();
    for (; ok && i < v.size(); ++i) {
      if (v[i] < '0' || v[i] > '9')
        ok = false;
      else
        out = out * 10 + (v[i] - '0');
    }
    if (!ok) throw ConfigError(describe(key) + " must be an integer");
    return v[0] == '-' ? -out : out;
  }
  // A boolean setting; throws ConfigError when present but not a boolean.
  std::optional<bool> boolean(std::string_view key) const {
    const herald_config_entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    std::string_view v = view(e->value);
    if (!e->is_string && v == "true") return true;
    if (!e->is_string && v == "false") return false;
    throw ConfigError(describe(key) + " must be a boolean");
  }

  // "`key`": the host prefixes driver messages with the connection and driver names.
  std::string describe(std::string_view key) const { return "`" + std::string(key) + "`"; }

 private:
  const herald_config* c_;
};

// Read-only view of an HTTP request; valid only during authorize.
class Request {
 public:
  explicit Request(const herald_request* r) noexcept : r_(r) {}
  std::string_view method() const noexcept { return view(r_->method); }
  std::string_view path() const noexcept { return view(r_->path); }
  std::string_view query() const noexcept { return view(r_->query); }
  std::string_view body() const noexcept { return view(r_->body); }
  std::string_view remote_address() const noexcept { return view(r_->remote_address); }
  // First header with this name, compared case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    for (size_t i = 0; i < r_->header_count; ++i) {
      std::string_view n = view(r_->headers[i].name);
      if (n.size() != name.size()) continue;
      bool same = true;
      for (size_t k = 0; k < n.size() && same; ++k) same = lower(n[k]) == lower(name[k]);
      if (same) return view(r_->headers[i].value);
    }
    return std::nullopt;
  }
  const herald_request* raw() const noexcept { return r_; }

 private:
  static char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
  const herald_request* r_;
};

// Builder for the authorization decision (Spiral's AuthorizationStatus); host-owned.
class AuthResult {
 public:
  explicit AuthResult(herald_auth_result* r) noexcept : r_(r) {}
  void success(bool ok) const { r_->set_success(r_->ctx, ok ? 1 : 0); }
  void add_topic(std::string_view topic) const { r_->add_topic(r_->ctx, str(topic)); }
  void attributes(std::string_view json_object) const {
    r_->set_attributes(r_->ctx, str(json_object));
  }
  void response(int http_status, std::string_view body) const {
    r_->set_response(r_->ctx, http_status, str(body));
  }
  void response_header(std::string_view name, std::string_view value) const {
    r_->add_response_header(r_->ctx, str(name), str(value));
  }

 private:
  herald_auth_result* r_;
};

// The host's services for one instance. Cheap to copy; valid until the instance is destroyed.
class Host {
 public:
  explicit Host(const herald_host_api* api) noexcept : api_(api) {}

  bool log_enabled(LogLevel level) const noexcept {
    return api_->log_enabled(api_->ctx, static_cast<int>(level)) != 0;
  }
  void log(LogLevel level, std::string_view message) const noexcept {
    api_->log(api_->ctx, static_cast<int>(level), str(message));
  }

  struct TopicDecision {
    bool matched = false;  // a pattern matched
    bool allowed = false;  // ... and its rule allowed the request
    std::vector<std::pair<std::string, std::string>> params;
  };
  // Evaluates the host's topic rules (first matching pattern decides; no match denies).
  TopicDecision authorize_topic(const Request& request, std::string_view topic) const {
    TopicDecision d;
    char buf[512];
    herald_error err{sizeof(herald_error), buf, sizeof buf};
    buf[0] = '\0';
    auto on_param = [](void* user, herald_str name, herald_str value) {
      static_cast<TopicDecision*>(user)->params.emplace_back(view(name), view(value));
    };
    int rc = api_->authorize_topic(api_->ctx, request.raw(), str(topic), on_param, &d, &err);
    if (rc < 0) throw Error(buf, static_cast<herald_status>(rc));
    d.matched = rc != HERALD_TOPIC_NO_MATCH;
    d.allowed = rc == HERALD_TOPIC_ALLOW;
    return d;
  }
  struct VerifiedTopicDecision : TopicDecision {
    // The verified token's claims (a JSON object) when a `jwt` rule allowed; nullopt otherwise.
    std::optional<std::string> claims;
  };
  // authorize_topic, plus the claims of the token the deciding rule verified (ABI 1.3
  // `authorize_topic_claims`): a user identity the host vouches for. On a host older than 1.3
  // it is authorize_topic with no claims.
  VerifiedTopicDecision authorize_topic_claims(const Request& request,
                                               std::string_view topic) const {
    VerifiedTopicDecision d;
    if (!HERALD_HAS_FIELD(api_, herald_host_api, authorize_topic_claims) ||
        api_->authorize_topic_claims == nullptr) {
      static_cast<TopicDecision&>(d) = authorize_topic(request, topic);
      return d;
    }
    char buf[512];
    herald_error err{sizeof(herald_error), buf, sizeof buf};
    buf[0] = '\0';
    auto on_param = [](void* user, herald_str name, herald_str value) {
      static_cast<VerifiedTopicDecision*>(user)->params.emplace_back(view(name), view(value));
    };
    auto on_claims = [](void* user, herald_str json) {
      static_cast<VerifiedTopicDecision*>(user)->claims.emplace(view(json));
    };
    int rc = api_->authorize_topic_claims(api_->ctx, request.raw(), str(topic), on_param,
                                          on_claims, &d, &err);
    if (rc < 0) throw Error(buf, static_cast<herald_status>(rc));
    d.matched = rc != HERALD_TOPIC_NO_MATCH;
    d.allowed = rc == HERALD_TOPIC_ALLOW;
    if (!d.allowed) d.claims.reset();
    return d;
  }
  // True inside `herald serve` (ABI 1.2 `role`); false for one-shot commands, embedders that
  // did not say otherwise, and hosts older than 1.2.
  bool serving() const noexcept {
    return HERALD_HAS_FIELD(api_, herald_host_api, role) && api_->role == HERALD_ROLE_SERVER;
  }

  const herald_host_api* raw() const noexcept { return api_; }

 private:
  const herald_host_api* api_;
};

// Base of every driver: Spiral's BroadcastInterface/AbstractBroadcast. `topics` has at least
// one element; each view is valid only during the call. May be called concurrently.
class Broadcast {
 public:
  virtual ~Broadcast() = default;
  virtual void publish(Texts topics, Texts messages) = 0;
};

// Implement as well to report health (ABI 1.1): throw (e.g. herald::sdk::Error) when the
// connection cannot publish right now; return normally when it can. May be called concurrently.
class HealthCheck {
 public:
  virtual ~HealthCheck() = default;
  virtual void health() = 0;
};

// Implement as well to add Prometheus text to the host's `GET /metrics` (ABI 1.2): call
// `out(text)` with whole lines (`# HELP`, `# TYPE`, samples with a `connection` label). Must be
// cheap; may be called concurrently with publish/authorize/health.
class MetricsSource {
 public:
  using Writer = void (*)(void* user, herald_str text);
  class Out {
   public:
    Out(Writer write, void* user) noexcept : write_(write), user_(user) {}
    void operator()(std::string_view text) const { write_(user_, str(text)); }

   private:
    Writer write_;
    void* user_;
  };
  virtual ~MetricsSource() = default;
  virtual void metrics(const Out& out) = 0;
};

// Implement as well to be a guard (Spiral's GuardInterface). May be called concurrently.
class Guard {
 public:
  virtual ~Guard() = default;
  virtual void authorize(const Request& request, const AuthResult& result) = 0;
};

namespace detail {

// Borrowed herald_str array -> string_view array in stack storage that is deliberately left
// uninitialized: zeroing it cost more than the rest of the call.
template <size_t N>
union ViewStorage {
  ViewStorage() noexcept {}
  std::string_view items[N];

  Texts fill(const herald_str* from, size_t n) noexcept {
    for (size_t i = 0; i < n; ++i) std::construct_at(items + i, view(from[i]));
    return Texts(items, n);
  }
};

template <class F>
int guarded(herald_error* err, F&& body) noexcept {
  try {
    body();
    return HERALD_OK;
  } catch (const Error& e) {
    herald_error_set(err, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    herald_error_set(err, "out of memory");
    return HERALD_E_FAILED;
  } catch (const std::exception& e) {
    herald_error_set(err, e.what());
    return HERALD_E_FAILED;
  } catch (...) {
    herald_error_set(err, "unknown exception in driver");
    return HERALD_E_EXCEPTION;
  }
}

template <class T>
int create(const herald_host_api* host, const herald_config* config, void** out,
           herald_error* err) noexcept {
  return guarded(err, [&] { *out = new T(Host(host), Config(config)); });
}

template <class T>
void destroy(void* instance) noexcept {
  try {
    delete static_cast<T*>(instance);
  } catch (...) {  // a destructor that throws must not take the host down
  }
}

template <class T>
int publish_large(void* instance, const herald_str* topics, size_t n_topics,
                  const herald_str* messages, size_t n_messages, herald_error* err) noexcept {
  return guarded(err, [&] {
    std::vector<std::string_view> t(n_topics), m(n_messages);
    for (size_t i = 0; i < n_topics; ++i) t[i] = view(topics[i]);
    for (size_t i = 0; i < n_messages; ++i) m[i] = view(messages[i]);
    static_cast<T*>(instance)->publish(Texts(t), Texts(m));
  });
}

template <class T>
int publish(void* instance, const herald_str* topics, size_t n_topics, const herald_str* messages,
            size_t n_messages, herald_error* err) noexcept {
  constexpr size_t kSmall = 8;  // the usual call: no allocation at all
  if (n_topics > kSmall || n_messages > kSmall) [[unlikely]]
    return publish_large<T>(instance, topics, n_topics, messages, n_messages, err);
  ViewStorage<kSmall> t, m;
  return guarded(err, [&] {
    static_cast<T*>(instance)->publish(t.fill(topics, n_topics), m.fill(messages, n_messages));
  });
}

template <class T>
int authorize(void* instance, const herald_request* request, herald_auth_result* result,
              herald_error* err) noexcept {
  return guarded(
      err, [&] { static_cast<T*>(instance)->authorize(Request(request), AuthResult(result)); });
}

template <class T>
int health(void* instance, herald_error* err) noexcept {
  return guarded(err, [&] { static_cast<T*>(instance)->health(); });
}

template <class T>
int metrics(void* instance, herald_write_fn write, void* user, herald_error* err) noexcept {
  return guarded(err, [&] { static_cast<T*>(instance)->metrics(MetricsSource::Out(write, user)); });
}

template <class T>
int validate(const herald_config* config, herald_error* err) noexcept {
  return guarded(err, [&] { T::validate(Config(config)); });
}

template <class T>
constexpr herald_driver_descriptor make_descriptor(const char* name, const char* version,
                                                   const char* description) {
  static_assert(std::is_base_of_v<Broadcast, T>, "a driver derives from herald::sdk::Broadcast");
  herald_driver_descriptor d{};
  d.struct_size = sizeof(herald_driver_descriptor);
  d.name = name;
  d.version = version;
  d.description = description;
  d.create = &create<T>;
  d.destroy = &destroy<T>;
  d.publish = &publish<T>;
  if constexpr (std::is_base_of_v<Guard, T>) d.authorize = &authorize<T>;
  if constexpr (requires(const Config& c) { T::validate(c); }) d.validate = &validate<T>;
  if constexpr (std::is_base_of_v<HealthCheck, T>) d.health = &health<T>;
  if constexpr (std::is_base_of_v<MetricsSource, T>) d.metrics = &metrics<T>;
  return d;
}

}  // namespace detail
}  // namespace herald::sdk

// Exports driver class `Class` under `name`. Use once per plugin, at namespace scope.
#define HERALD_DRIVER(Class, name, version, description)                                           \
  extern "C" HERALD_EXPORT uint32_t herald_driver_abi_version(void) { return HERALD_ABI_VERSION; } \
  extern "C" HERALD_EXPORT const herald_driver_descriptor* herald_driver_get_descriptor(void) {    \
    static const herald_driver_descriptor descriptor =                                             \
        ::herald::sdk::detail::make_descriptor<Class>(name, version, description);                 \
    return &descriptor;                                                                            \
  }
