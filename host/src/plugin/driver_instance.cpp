#include "plugin/driver_instance.hpp"

#include <cstring>
#include <sstream>

#include <boost/json.hpp>

#include "core/errors.hpp"
#include "core/prometheus_text.hpp"

namespace herald {
namespace {

using Context = DriverInstance::Context;

constexpr size_t kErrorCapacity = 1024;

std::string_view view(herald_str s) {
  return s.size == 0 ? std::string_view{} : std::string_view{s.data, s.size};
}
herald_str str(std::string_view s) { return herald_str{s.data(), s.size()}; }

boost::json::value to_json(const toml::node& node) {
  if (auto* t = node.as_table()) {
    boost::json::object o;
    for (const auto& [k, v] : *t) o.emplace(std::string_view(k.str()), to_json(v));
    return o;
  }
  if (auto* a = node.as_array()) {
    boost::json::array out;
    for (const auto& v : *a) out.push_back(to_json(v));
    return out;
  }
  if (auto* s = node.as_string()) return boost::json::string(s->get());
  if (auto* i = node.as_integer()) return static_cast<std::int64_t>(i->get());
  if (auto* f = node.as_floating_point()) return f->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream text;  // dates and times: their TOML spelling, as a string
  node.visit([&text](const auto& n) { text << n; });
  return boost::json::string(text.str());
}

// Owns the strings that a borrowed herald_config points into.
class PluginConfig {
 public:
  PluginConfig(const ConnectionConfig& config, const std::string& base_dir)
      : name_(config.name), source_(config.where.str()), base_dir_(base_dir) {
    json_ = boost::json::serialize(to_json(config.options));
    values_.reserve(config.options.size());
    for (const auto& [key, value] : config.options) {
      if (auto* s = value.as_string())
        values_.push_back({std::string(key.str()), s->get(), 1});
      else
        values_.push_back({std::string(key.str()), boost::json::serialize(to_json(value)), 0});
    }
    for (const auto& v : values_) entries_.push_back({str(v.key), str(v.value), v.is_string});
    c_.struct_size = sizeof(herald_config);
    c_.connection = str(name_);
    c_.json = str(json_);
    c_.entries = entries_.data();
    c_.entry_count = entries_.size();
    c_.source = str(source_);
    c_.base_dir = str(base_dir_);
  }
  const herald_config* get() const { return &c_; }

 private:
  struct Value {
    std::string key, value;
    int32_t is_string;
  };
  std::string name_, source_, base_dir_, json_;
  std::vector<Value> values_;
  std::vector<herald_config_entry> entries_;
  herald_config c_{};
};

}  // namespace

std::string plugin_error_text(const char* text, std::size_t capacity) {
  const std::size_t size = text == nullptr ? 0 : ::strnlen(text, capacity);
  if (size == 0) return "no reason given by the driver";
  std::string out(text, size);
  for (char& c : out)  // one line in the log, whatever the plugin wrote
    if (c == '\n' || c == '\r' || c == '\0') c = ' ';
  return out;
}

namespace {

// Only the first byte is cleared: zeroing 1 KiB per publish would cost more than the call.
// The plugin is untrusted: its text is read up to the first NUL *within the buffer* (one that
// fills all of it without a NUL must not make the host read past the end), and is made one line.
struct ErrorBuffer {
  ErrorBuffer() noexcept { text[0] = '\0'; }
  ErrorBuffer(const ErrorBuffer&) = delete;
  ErrorBuffer& operator=(const ErrorBuffer&) = delete;
  char text[kErrorCapacity];
  herald_error error{sizeof(herald_error), text, kErrorCapacity};
  std::string message() const { return plugin_error_text(text, kErrorCapacity); }
};

// Borrowed views -> the C strings the ABI takes (no copy of the bytes).
void to_c(Texts from, herald_str* to) noexcept {
  for (size_t i = 0; i < from.size(); ++i) to[i] = str(from[i]);
}

// ---- the host API handed to every instance ----

// Every function handed to a plugin is noexcept and catches everything: an exception must
// never unwind through the plugin's C frames (undefined behaviour, usually std::terminate).
void host_log(void* ctx, int level, herald_str message) noexcept {
  try {
    auto* c = static_cast<Context*>(ctx);
    if (level < HERALD_LOG_TRACE || level > HERALD_LOG_CRITICAL) level = HERALD_LOG_ERROR;
    c->logger->log(static_cast<spdlog::level::level_enum>(level), "[{}] {}", c->connection,
                   view(message));
  } catch (...) {  // out of memory, or a sink failing: the line is lost, the process is not
  }
}

int host_log_enabled(void* ctx, int level) noexcept {
  if (level < HERALD_LOG_TRACE || level > HERALD_LOG_CRITICAL) return 0;
  return static_cast<Context*>(ctx)->logger->should_log(
      static_cast<spdlog::level::level_enum>(level));
}

AuthRequest to_request(const herald_request* r) {
  AuthRequest req;
  if (r == nullptr) return req;
  req.method = view(r->method);
  req.path = view(r->path);
  req.query = view(r->query);
  for (size_t i = 0; i < r->header_count; ++i)
    req.headers.emplace_back(view(r->headers[i].name), view(r->headers[i].value));
  req.body = view(r->body);
  req.remote_address = view(r->remote_address);
  return req;
}

int host_authorize_topic_claims(void* ctx, const herald_request* request, herald_str topic,
                                herald_param_fn on_param, herald_write_fn on_claims, void* user,
                                herald_error* err) noexcept {
  auto* c = static_cast<Context*>(ctx);
  try {
    if (!c->topics) return HERALD_TOPIC_NO_MATCH;
    TopicMatch match;
    const TopicDecision decision = c->topics->authorize(to_request(request), view(topic), &match);
    if (decision == TopicDecision::no_match) return HERALD_TOPIC_NO_MATCH;
    if (on_param != nullptr)
      for (const auto& [name, value] : match.params) on_param(user, str(name), str(value));
    if (decision != TopicDecision::allow) return HERALD_TOPIC_DENY;
    // Only a rule that verified a token fills verified_claims (TopicRegistry clears it on deny).
    if (on_claims != nullptr && !match.verified_claims.empty())
      on_claims(user, str(match.verified_claims));
    return HERALD_TOPIC_ALLOW;
  } catch (const std::exception& e) {
    herald_error_set(err, e.what());
    return HERALD_E_FAILED;
  } catch (...) {
    herald_error_set(err, "unknown error while evaluating the topic rules");
    return HERALD_E_FAILED;
  }
}

// ABI 1.0: the same decision without the claims.
int host_authorize_topic(void* ctx, const herald_request* request, herald_str topic,
                         herald_param_fn on_param, void* user, herald_error* err) noexcept {
  return host_authorize_topic_claims(ctx, request, topic, on_param, nullptr, user, err);
}

// ---- the authorization result builder ----

struct AuthBuilder {
  bool success = false;
  bool failed = false;  // a callback could not store what it was given (out of memory)
  AuthorizationStatus::Topics topics;
  std::string attributes = "{}";
  std::optional<AuthResponse> response;
};

// Runs `f` on the builder, catching everything (these are called from plugin code); a failure
// marks the result failed, so the authorization is denied rather than half-built.
template <typename F>
void on_builder(void* ctx, F&& f) noexcept {
  auto* b = static_cast<AuthBuilder*>(ctx);
  try {
    f(*b);
  } catch (...) {
    b->failed = true;
  }
}

herald_auth_result make_result(AuthBuilder& builder) {
  herald_auth_result r{};
  r.struct_size = sizeof(herald_auth_result);
  r.ctx = &builder;
  r.set_success = [](void* ctx, int ok) noexcept {
    static_cast<AuthBuilder*>(ctx)->success = ok != 0;
  };
  r.add_topic = [](void* ctx, herald_str topic) noexcept {
    on_builder(ctx, [topic](AuthBuilder& b) {
      if (!b.topics) b.topics.emplace();
      if (topic.data != nullptr || topic.size != 0) b.topics->emplace_back(view(topic));
    });
  };
  r.set_attributes = [](void* ctx, herald_str json) noexcept {
    on_builder(ctx, [json](AuthBuilder& b) { b.attributes = view(json); });
  };
  r.set_response = [](void* ctx, int status, herald_str body) noexcept {
    on_builder(ctx, [status, body](AuthBuilder& b) {
      if (!b.response) b.response.emplace();
      b.response->status = status;
      b.response->body = view(body);
    });
  };
  r.add_response_header = [](void* ctx, herald_str name, herald_str value) noexcept {
    on_builder(ctx, [name, value](AuthBuilder& b) {
      if (!b.response) b.response.emplace();
      b.response->headers.emplace_back(view(name), view(value));
    });
  };
  return r;
}

// ---- the metrics writer ----

// Collects what a plugin's `metrics` writes, up to the limit (the plugin's text is untrusted).
struct MetricsSink {
  std::string text;
  bool over_limit = false;
};

void collect_metrics(void* user, herald_str text) noexcept {
  auto* sink = static_cast<MetricsSink*>(user);
  if (sink == nullptr || sink->over_limit || text.size == 0 || text.data == nullptr) return;
  if (text.size > DriverInstance::kMetricsLimit - sink->text.size()) {
    sink->over_limit = true;
    return;
  }
  try {
    sink->text.append(text.data, text.size);
  } catch (...) {  // out of memory: never let an exception cross the plugin's C frames
    sink->over_limit = true;
  }
}

enum MetricsWarning : unsigned { kMetricsFailed = 1, kMetricsTooLarge = 2, kMetricsBadLines = 4 };

}  // namespace

DriverInstance::DriverInstance(std::shared_ptr<Plugin> plugin, const ConnectionConfig& config,
                               std::shared_ptr<const TopicRegistry> topics,
                               std::shared_ptr<spdlog::logger> logger, const std::string& base_dir,
                               herald_role role)
    : plugin_(std::move(plugin)),
      publish_(plugin_->descriptor().publish),
      context_{config.name, std::move(logger), std::move(topics)} {
  api_.struct_size = sizeof(herald_host_api);
  api_.host_abi_version = HERALD_ABI_VERSION;
  api_.ctx = &context_;
  api_.log = &host_log;
  api_.log_enabled = &host_log_enabled;
  api_.authorize_topic = &host_authorize_topic;
  api_.authorize_topic_claims = &host_authorize_topic_claims;
  api_.role = role;

  PluginConfig plugin_config(config, base_dir);
  ErrorBuffer err;
  const int rc = plugin_->descriptor().create(&api_, plugin_config.get(), &instance_, &err.error);
  if (rc != HERALD_OK || instance_ == nullptr) {
    instance_ = nullptr;
    const std::string message =
        config.where.prefix(describe() + ": cannot start: " + err.message());
    if (rc == HERALD_E_CONFIG || rc == HERALD_E_INVALID_ARGUMENT) throw ConfigException(message);
    throw DriverException(message, rc == HERALD_OK ? HERALD_E_FAILED : rc);
  }
}

DriverInstance::~DriverInstance() {
  if (instance_ != nullptr) plugin_->descriptor().destroy(instance_);
}

std::string DriverInstance::describe() const {
  return "connection `" + context_.connection + "` (driver `" + plugin_->info().name + "`)";
}

void DriverInstance::publish(Texts topics, Texts messages) {
  constexpr size_t kSmall = 8;
  if (topics.empty() || topics.size() > kSmall || messages.size() > kSmall) [[unlikely]] {
    publish_large(topics, messages);
    return;
  }
  herald_str t[kSmall], m[kSmall];  // uninitialized: the hot path allocates and zeroes nothing
  to_c(topics, t);
  to_c(messages, m);
  ErrorBuffer err;
  const int rc = publish_(instance_, t, topics.size(), m, messages.size(), &err.error);
  if (rc != HERALD_OK) [[unlikely]]
    fail_publish(rc, err.message());
}

void DriverInstance::publish_large(Texts topics, Texts messages) {
  if (topics.empty())
    throw InvalidArgumentException(describe() + ": publish needs at least one topic");
  std::vector<herald_str> t(topics.size()), m(messages.size());
  to_c(topics, t.data());
  to_c(messages, m.data());
  ErrorBuffer err;
  const int rc = publish_(instance_, t.data(), t.size(), m.data(), m.size(), &err.error);
  if (rc != HERALD_OK) fail_publish(rc, err.message());
}

void DriverInstance::fail_publish(int status, const std::string& reason) const {
  throw DriverException(describe() + ": publish failed: " + reason, status);
}

std::optional<std::string> DriverInstance::health_problem() {
  if (!plugin_->info().can_report_health) return std::nullopt;  // 1.0 plugin: always healthy
  ErrorBuffer err;
  const int rc = plugin_->descriptor().health(instance_, &err.error);
  if (rc == HERALD_OK || rc == HERALD_E_UNSUPPORTED) return std::nullopt;  // unsupported: absent
  return err.message();
}

std::string DriverInstance::metrics_text() {
  if (!plugin_->info().can_report_metrics) return {};  // 1.0/1.1 plugin, or none declared
  auto warn_once = [this](unsigned kind, const std::string& what) {
    if ((metrics_warned_.fetch_or(kind) & kind) == 0)
      context_.logger->warn("{}: metrics: {} (logged once)", describe(), what);
  };
  MetricsSink sink;
  ErrorBuffer err;
  const int rc = plugin_->descriptor().metrics(instance_, &collect_metrics, &sink, &err.error);
  if (rc == HERALD_E_UNSUPPORTED) return {};  // declared but not for this instance: absent
  if (rc != HERALD_OK) {
    warn_once(kMetricsFailed, "failed, left out of /metrics: " + err.message());
    return {};
  }
  if (sink.over_limit) {
    const size_t end = sink.text.rfind('\n');
    sink.text.resize(end == std::string::npos ? 0 : end + 1);
    warn_once(kMetricsTooLarge, "more than " + std::to_string(kMetricsLimit) +
                                    " bytes, the rest left out of /metrics");
  }
  CheckedMetricsText checked = check_metrics_text(sink.text);
  if (checked.dropped != 0)
    warn_once(kMetricsBadLines, std::to_string(checked.dropped) +
                                    " line(s) left out of /metrics, the first: " +
                                    checked.first_problem);
  return std::move(checked.text);
}

AuthorizationStatus DriverInstance::authorize(const AuthRequest& request) {
  if (!plugin_->info().can_authorize) return AuthorizationStatus(true, std::nullopt);
  std::vector<herald_header> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) headers.push_back({str(name), str(value)});
  herald_request req{};
  req.struct_size = sizeof(herald_request);
  req.method = str(request.method);
  req.path = str(request.path);
  req.query = str(request.query);
  req.headers = headers.data();
  req.header_count = headers.size();
  req.body = str(request.body);
  req.remote_address = str(request.remote_address);

  AuthBuilder builder;
  herald_auth_result result = make_result(builder);
  ErrorBuffer err;
  const int rc = plugin_->descriptor().authorize(instance_, &req, &result, &err.error);
  if (rc != HERALD_OK) {
    context_.logger->warn("{}: authorize failed: {}", describe(), err.message());
    return AuthorizationStatus(false, std::nullopt);
  }
  if (builder.failed) {
    context_.logger->warn("{}: authorize failed: the host could not store the result", describe());
    return AuthorizationStatus(false, std::nullopt);
  }
  return AuthorizationStatus(builder.success, std::move(builder.topics),
                             std::move(builder.attributes), std::move(builder.response));
}

void validate_connection(const Plugin& plugin, const ConnectionConfig& config,
                         const std::string& base_dir) {
  if (plugin.descriptor().validate == nullptr) return;
  PluginConfig plugin_config(config, base_dir);
  ErrorBuffer err;
  if (plugin.descriptor().validate(plugin_config.get(), &err.error) != HERALD_OK)
    throw ConfigException(config.where.prefix("connection `" + config.name + "` (driver `" +
                                              plugin.info().name + "`): " + err.message()));
}

}  // namespace herald
