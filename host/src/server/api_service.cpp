#include "server/api_service.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <boost/json.hpp>

#include "auth/topic_rules.hpp"
#include "core/errors.hpp"
#include "core/prometheus_text.hpp"
#include "core/text.hpp"

namespace herald {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kPublishPath = "/api/publish";
constexpr std::string_view kHealthPath = "/healthz";
constexpr std::string_view kMetricsPath = "/metrics";

std::string_view path_of(const HttpRequest& request) {
  const std::string_view target = request.target();
  return target.substr(0, target.find('?'));
}

HttpResponse json_reply(const HttpRequest& request, int status, const boost::json::value& body) {
  HttpResponse res(static_cast<http::status>(status), request.version());
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body) + "\n";
  return res;
}

HttpResponse method_not_allowed(const HttpRequest& request, std::string_view allow) {
  HttpResponse res = json_error(request.version(), 405,
                                std::string(request.method_string()) + " is not allowed on " +
                                    std::string(path_of(request)) + " (use " + std::string(allow) +
                                    ")");
  res.set(http::field::allow, allow);
  return res;
}

// Strings as they are, anything else as compact JSON: what a driver receives.
std::string message_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return boost::json::serialize(v);
}

[[noreturn]] void bad(const std::string& why) { throw InvalidArgumentException(why); }

std::vector<std::string> topic_list(const boost::json::object& body) {
  const boost::json::value* one = body.if_contains("topic");
  const boost::json::value* many = body.if_contains("topics");
  if (one != nullptr && many != nullptr) bad("give either `topic` or `topics`, not both");
  std::vector<std::string> topics;
  if (one != nullptr) {
    if (!one->is_string()) bad("`topic` must be a string");
    topics.emplace_back(one->get_string());
  } else if (many != nullptr) {
    if (!many->is_array()) bad("`topics` must be an array of strings");
    for (const auto& t : many->get_array()) {
      if (!t.is_string()) bad("`topics` must be an array of strings");
      topics.emplace_back(t.get_string());
    }
  } else {
    bad("`topic` or `topics` is required");
  }
  if (topics.empty()) bad("`topics` must not be empty");
  for (const auto& t : topics)
    if (t.empty()) bad("a topic must not be an empty string");
  return topics;
}

std::vector<std::string> message_list(const boost::json::object& body) {
  const boost::json::value* one = body.if_contains("message");
  const boost::json::value* many = body.if_contains("messages");
  if (one != nullptr && many != nullptr) bad("give either `message` or `messages`, not both");
  std::vector<std::string> messages;
  if (one != nullptr) {
    messages.push_back(message_text(*one));
  } else if (many != nullptr) {
    if (!many->is_array()) bad("`messages` must be an array");
    for (const auto& m : many->get_array()) messages.push_back(message_text(m));
  } else {
    bad("`message` or `messages` is required");
  }
  return messages;
}

}  // namespace

PublishCommand parse_publish_body(std::string_view body) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::json::value parsed = boost::json::parse(body, ec, {}, options);
  if (ec) bad("body is not valid JSON: " + ec.message());
  if (!parsed.is_object()) bad("body must be a JSON object");
  const boost::json::object& o = parsed.get_object();
  for (const auto& [key, value] : o) {
    if (key != "topic" && key != "topics" && key != "message" && key != "messages" &&
        key != "connection")
      bad("unknown field `" + printable(key) +
          "` (expected topic/topics, message/messages, connection)");
  }
  PublishCommand command;
  command.topics = topic_list(o);
  command.messages = message_list(o);
  if (const boost::json::value* c = o.if_contains("connection")) {
    if (!c->is_string()) bad("`connection` must be a string");
    command.connection = std::string(c->get_string());
  }
  return command;
}

void add_socket(std::vector<std::string>& messages, std::string_view socket_id) {
  const auto dot = socket_id.find('.');
  bool valid = dot != std::string_view::npos && dot != 0 && dot + 1 != socket_id.size() &&
               socket_id.size() <= 41;
  for (std::size_t i = 0; valid && i < socket_id.size(); ++i)
    valid = i == dot || (socket_id[i] >= '0' && socket_id[i] <= '9');
  if (!valid) bad("X-Socket-ID must be a socket id such as 123.456");
  for (std::string& m : messages) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(m, ec);
    boost::json::object* o = ec ? nullptr : v.if_object();
    const boost::json::value* event = o ? o->if_contains("event") : nullptr;
    if (event == nullptr || !event->is_string() || !o->contains("data"))
      bad("X-Socket-ID needs every message in the event form {\"event\":\"..\",\"data\":..}");
    (*o)["socket"] = socket_id;
    m = boost::json::serialize(v);
  }
}

struct ApiService::HealthCache {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  bool healthy = true;
  std::string body;  // the JSON reply
};

ApiService::ApiService(BroadcastManager& manager, const ServerConfig& config,
                       std::optional<std::string> authorize_path,
                       std::shared_ptr<spdlog::logger> logger, Metrics& metrics)
    : manager_(manager),
      config_(config),
      authorize_path_(std::move(authorize_path)),
      logger_(std::move(logger)),
      metrics_(metrics) {
  for (auto& name : manager_.config().connection_names()) connections_.insert(std::move(name));
  health_ = std::make_shared<HealthCache>();
  refresh_health();  // the first answer is a real one
  health_thread_ = std::make_unique<ThreadGroup>();
  health_thread_->start(1, [this, cache = health_, period = config_.health_refresh] {
    std::unique_lock lock(cache->mutex);
    while (!cache->stop) {
      cache->wake.wait_for(lock, period, [&] { return cache->stop; });
      if (cache->stop) break;
      lock.unlock();
      refresh_health();
      lock.lock();
    }
  });
}

ApiService::~ApiService() { stop(std::chrono::steady_clock::now() + std::chrono::seconds(1)); }

bool ApiService::stop(std::chrono::steady_clock::time_point deadline) {
  if (!health_thread_) return true;
  {
    std::lock_guard lock(health_->mutex);
    health_->stop = true;
    health_->wake.notify_all();
  }
  const bool joined = health_thread_->join_until(deadline) == 0;
  health_thread_.reset();
  return joined;
}

Lane ApiService::lane(const HttpRequest& request) const {
  const std::string_view path = path_of(request);
  // Each kind of work has its own bounded lane, so a flood of authorize requests (which may
  // call a slow webhook) never delays a publish. /metrics asks every driver for its own
  // metrics (ABI 1.2): plugin code, off the I/O threads. /healthz reads a cache: inline.
  if (authorize_path_ && path == *authorize_path_) return Lane::authorize;
  if (path == kPublishPath) return Lane::publish;
  if (path == kMetricsPath) return Lane::admin;
  return Lane::inline_;
}

HttpResponse ApiService::handle(const HttpRequest& request, const std::string& remote) {
  const std::string_view path = path_of(request);
  // Spiral's middleware sits in front of everything: an exact path match, any method.
  if (authorize_path_ && path == *authorize_path_) return authorize(request, remote);
  if (path == kPublishPath) {
    if (request.method() != http::verb::post) return method_not_allowed(request, "POST");
    return publish(request);
  }
  if (path == kHealthPath || path == kMetricsPath) {
    if (request.method() != http::verb::get && request.method() != http::verb::head)
      return method_not_allowed(request, "GET, HEAD");
    HttpResponse res = path == kHealthPath ? health(request) : metrics(request);
    if (request.method() == http::verb::head) {
      res.content_length(res.body().size());
      res.body().clear();
    }
    return res;
  }
  return json_error(request.version(), 404, "no such endpoint: " + printable(path));
}

bool ApiService::api_key_accepted(const HttpRequest& request) const {
  std::string_view presented;
  if (auto it = request.find(http::field::authorization); it != request.end()) {
    const std::string_view value = it->value();
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() > kBearer.size() && iequals(value.substr(0, kBearer.size()), kBearer))
      presented = value.substr(kBearer.size());
  }
  if (presented.empty())
    if (auto it = request.find("X-API-Key"); it != request.end()) presented = it->value();
  if (presented.empty()) return false;
  // Every key is compared in full, so timing tells nothing about which one (nearly) matched.
  bool accepted = false;
  for (const auto& key : config_.api_keys) accepted |= constant_time_equals(presented, key);
  return accepted;
}

HttpResponse ApiService::publish(const HttpRequest& request) {
  if (config_.api_keys.empty() && !config_.insecure_no_api_key)
    return json_error(request.version(), 403,
                      "the publish API is disabled: set [server] api_key (or insecure_no_api_key "
                      "= true for a trusted network)");
  if (!config_.api_keys.empty() && !api_key_accepted(request)) {
    HttpResponse res = json_error(request.version(), 401,
                                  "missing or wrong API key (send Authorization: Bearer <key> "
                                  "or X-API-Key)");
    res.set(http::field::www_authenticate, "Bearer realm=\"herald\"");
    return res;
  }
  PublishCommand command;
  try {
    command = parse_publish_body(request.body());
  } catch (const InvalidArgumentException& e) {
    return json_error(request.version(), 400, e.what());
  }
  // topics x messages deliveries: a small body must not become a huge pipeline or thousands of
  // driver requests. Checked before any driver is called.
  if (const auto deliveries =
          static_cast<std::uint64_t>(command.topics.size()) * command.messages.size();
      deliveries > config_.max_deliveries_per_publish)
    return json_error(request.version(), 413,
                      std::to_string(command.topics.size()) + " topic(s) x " +
                          std::to_string(command.messages.size()) + " message(s) = " +
                          std::to_string(deliveries) +
                          " deliveries, over [server] max_deliveries_per_publish (" +
                          std::to_string(config_.max_deliveries_per_publish) +
                          "); split the publish");

  std::string resolved;
  std::shared_ptr<Broadcast> connection;
  try {
    resolved = manager_.resolve(command.connection);
    if (!connections_.contains(resolved))
      return json_error(request.version(), 404,
                        "Config for connection `" + printable(resolved) + "` is not defined.");
    connection = manager_.connection(command.connection);
  } catch (const ConfigException& e) {
    return json_error(request.version(), 404, e.what());
  } catch (const DriverException& e) {
    return json_error(request.version(), 502, e.what());
  }

  // X-Socket-ID: the client that caused the event is left out (Pusher's socket_id, Laravel's
  // toOthers()), through the envelope's `socket` member.
  if (auto h = request.find("X-Socket-ID"); h != request.end()) {
    try {
      add_socket(command.messages, std::string_view(h->value().data(), h->value().size()));
    } catch (const InvalidArgumentException& e) {
      return json_error(request.version(), 400, e.what());
    }
  }
  std::vector<std::string_view> topics(command.topics.begin(), command.topics.end());
  std::vector<std::string_view> messages(command.messages.begin(), command.messages.end());
  const auto started = std::chrono::steady_clock::now();
  try {
    connection->publish(Texts(topics), Texts(messages));
  } catch (const DriverException& e) {
    metrics_.publish(resolved, std::chrono::steady_clock::now() - started, false, messages.size());
    logger_->warn("{}", e.what());
    return json_error(request.version(), 502, e.what());
  } catch (const InvalidArgumentException& e) {
    metrics_.publish(resolved, std::chrono::steady_clock::now() - started, false, messages.size());
    return json_error(request.version(), 400, e.what());
  }
  metrics_.publish(resolved, std::chrono::steady_clock::now() - started, true, messages.size());
  return json_reply(request, 200, boost::json::object{{"published", messages.size()}});
}

std::optional<std::string> ApiService::allowed_origin(const HttpRequest& request) const {
  const auto it = request.find(http::field::origin);
  if (it == request.end() || config_.cors_origins.empty()) return std::nullopt;
  const std::string origin(it->value());
  // `null` is the origin of every sandboxed frame and file: page: never one to trust.
  if (origin.empty() || origin == "null") return std::nullopt;
  bool any = false;
  for (const auto& allowed : config_.cors_origins) {
    if (allowed == origin) return origin;  // named: reflected, with credentials
    any = any || allowed == "*";
  }
  if (any) return std::string("*");  // the wildcard never goes with credentials
  return std::nullopt;
}

namespace {

// The request headers the authorize endpoint reads (guards and topic rules), for preflights.
constexpr std::string_view kCorsAllowHeaders =
    "Authorization, Content-Type, X-CSRF-Token, X-Requested-With, X-Socket-ID";

// `topic` and `channel_name` values from the query string and a form body, in order.
std::vector<std::string> requested_topics(const AuthRequest& auth) {
  std::vector<std::string> out;
  auto add = [&out](std::string_view text) {
    for (std::string_view rest = text; !rest.empty();) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      const size_t eq = pair.find('=');
      const std::string_view name = pair.substr(0, eq);
      if (eq == std::string_view::npos || (name != "topic" && name != "channel_name")) continue;
      AuthRequest one;
      one.query = std::string(pair);
      if (auto value = one.query_param(name)) out.push_back(std::move(*value));
    }
  };
  add(auth.query);
  if (auth.form_field("topic") || auth.form_field("channel_name")) add(auth.body);
  return out;
}

}  // namespace

void ApiService::set_topic_rules(const TopicRegistry* rules) noexcept { topic_rules_ = rules; }

AuthorizationStatus ApiService::authorize_by_rules(const AuthRequest& auth) const {
  // No guard: the host's topic rules decide each requested topic (`topic` or `channel_name`, in
  // the query or a form body). Deny unless every one is allowed; no topic, no rules: deny.
  const std::vector<std::string> topics = requested_topics(auth);
  // Bounded: each topic may cost a rule call (a webhook), so a body full of them is refused.
  constexpr size_t kMaxTopics = 16;
  if (topics.empty() || topics.size() > kMaxTopics || topic_rules_ == nullptr)
    return AuthorizationStatus(false, std::nullopt);
  for (const auto& topic : topics)
    if (topic_rules_->authorize(auth, topic) != TopicDecision::allow)
      return AuthorizationStatus(false, std::nullopt);
  return AuthorizationStatus(true, topics);
}

HttpResponse ApiService::authorize(const HttpRequest& request, const std::string& remote) {
  const auto origin = allowed_origin(request);
  auto with_cors = [&](HttpResponse res) {
    // Always: the answer depends on Origin, so no cache may serve it to another origin.
    res.set(http::field::vary, "Origin");
    if (origin) {
      res.set(http::field::access_control_allow_origin, *origin);
      if (*origin != "*") res.set(http::field::access_control_allow_credentials, "true");
    }
    return res;
  };
  // A CORS preflight from an allowed origin is answered here; the guard sees real requests.
  if (origin && request.method() == http::verb::options &&
      request.find(http::field::access_control_request_method) != request.end()) {
    HttpResponse res(http::status::no_content, request.version());
    res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
    // A fixed list, never the requested headers echoed back.
    res.set(http::field::access_control_allow_headers, kCorsAllowHeaders);
    res.set(http::field::access_control_max_age, "600");
    return with_cors(std::move(res));
  }

  AuthRequest auth;
  auth.method = std::string(request.method_string());
  const std::string_view target = request.target();
  const size_t q = target.find('?');
  auth.path = std::string(target.substr(0, q));
  auth.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  for (const auto& field : request) auth.headers.emplace_back(field.name_string(), field.value());
  auth.body = request.body();
  auth.remote_address = remote;

  std::optional<AuthorizationStatus> status;
  try {
    std::shared_ptr<Broadcast> broadcast = manager_.connection();
    Guard* guard = broadcast->guard();
    status = guard != nullptr ? guard->authorize(auth) : authorize_by_rules(auth);
  } catch (const std::exception& e) {
    logger_->warn("authorize: {}", e.what());
    status = AuthorizationStatus(false, std::nullopt);
  }

  // Herald's form of Spiral's `Authorized` event: every decision is logged and counted.
  const char* decision = status->has_response() ? "response" : status->success() ? "allow" : "deny";
  metrics_.authorization(decision);
  if (logger_->should_log(spdlog::level::debug)) {
    std::string topics;
    if (status->topics())
      for (const auto& t : *status->topics()) topics += (topics.empty() ? "" : ", ") + t;
    logger_->debug("authorized: decision={} success={} topics=[{}] remote={} method={} path={}",
                   decision, status->success(), printable(topics), remote, auth.method,
                   printable(auth.path));
  }

  if (const auto& custom = status->response()) {
    HttpResponse res(static_cast<http::status>(custom->status), request.version());
    for (const auto& [name, value] : custom->headers) res.insert(name, value);
    res.body() = custom->body;
    return with_cors(std::move(res));
  }
  HttpResponse res(status->success() ? http::status::ok : http::status::forbidden,
                   request.version());
  return with_cors(std::move(res));
}

void ApiService::refresh_health() {
  boost::json::object connections;
  bool healthy = true;
  for (const auto& name : manager_.config().connection_names()) {
    std::optional<std::string> problem;
    try {
      problem = manager_.connection(name)->health_problem();
    } catch (const std::exception& e) {
      problem = e.what();
    }
    healthy = healthy && !problem;
    boost::json::object entry{{"status", problem ? "down" : "up"}};
    if (problem) entry["error"] = *problem;
    connections[name] = std::move(entry);
  }
  std::string body = boost::json::serialize(boost::json::object{
                         {"status", healthy ? "ok" : "unavailable"},
                         {"connections", std::move(connections)}}) +
                     "\n";
  std::lock_guard lock(health_->mutex);
  health_->healthy = healthy;
  health_->body = std::move(body);
}

HttpResponse ApiService::health(const HttpRequest& request) {
  HttpResponse res(http::status::ok, request.version());
  {
    std::lock_guard lock(health_->mutex);
    res.result(health_->healthy ? http::status::ok : http::status::service_unavailable);
    res.body() = health_->body;
  }
  res.set(http::field::content_type, "application/json");
  return res;
}

HttpResponse ApiService::metrics(const HttpRequest& request) {
  HttpResponse res(http::status::ok, request.version());
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  // The host's metrics, then each configured connection's own (checked by DriverInstance),
  // merged so that a family written by several instances of one driver appears once.
  std::vector<std::string> texts{metrics_.render()};
  for (const auto& name : manager_.config().connection_names()) {
    try {
      if (std::string text = manager_.connection(name)->metrics_text(); !text.empty())
        texts.push_back(std::move(text));
    } catch (const std::exception& e) {
      logger_->debug("metrics of connection `{}` left out: {}", name, e.what());
    }
  }
  if (texts.size() == 1) {
    res.body() = std::move(texts.front());
  } else {
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    res.body() = merge_metrics_texts(views);
  }
  return res;
}

}  // namespace herald
