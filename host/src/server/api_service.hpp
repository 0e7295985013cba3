// What `herald serve` answers (docs/reference.md section 4): the publish API, the authorization
// endpoint (Spiral's AuthorizationMiddleware), /healthz and /metrics.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "auth/authorization_status.hpp"
#include "auth/topic_registry.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"

namespace herald {

// A parsed `POST /api/publish` body.
struct PublishCommand {
  std::vector<std::string> topics;
  std::vector<std::string> messages;  // non-string JSON values as compact JSON text
  std::string connection;             // empty: the default connection
};

// Parses and checks a publish body; throws InvalidArgumentException with what was wrong.
PublishCommand parse_publish_body(std::string_view body);

// X-Socket-ID of POST /api/publish: adds `"socket": socket_id` to every message, which must be
// in the event form {"event","data"}. Throws InvalidArgumentException (a 400) otherwise.
void add_socket(std::vector<std::string>& messages, std::string_view socket_id);

class ApiService final : public HttpService {
 public:
  ApiService(BroadcastManager& manager, const ServerConfig& config,
             std::optional<std::string> authorize_path, std::shared_ptr<spdlog::logger> logger,
             Metrics& metrics);

  ~ApiService() override;
  Lane lane(const HttpRequest& request) const override;
  HttpResponse handle(const HttpRequest& request, const std::string& remote) override;
  // Ends the /healthz refresh thread, waiting until `deadline`; false: it is stuck in a
  // driver's health call and was abandoned (the caller must exit without destroying drivers).
  bool stop(std::chrono::steady_clock::time_point deadline);
  // The host's topic rules, for an authorize path whose default connection is not a guard
  // (they decide the `topic`/`channel_name` of the request; without them, every such request is
  // denied). Not owned; set before serving and outlives the service.
  void set_topic_rules(const TopicRegistry* rules) noexcept;

 private:
  HttpResponse publish(const HttpRequest& request);
  HttpResponse authorize(const HttpRequest& request, const std::string& remote);
  HttpResponse health(const HttpRequest& request);
  HttpResponse metrics(const HttpRequest& request);
  bool api_key_accepted(const HttpRequest& request) const;
  // What Access-Control-Allow-Origin says for the authorize path: the Origin when it is listed
  // (credentials allowed), "*" when only the wildcard matches (no credentials), else nullopt.
  // The `null` origin never gets CORS headers.
  std::optional<std::string> allowed_origin(const HttpRequest& request) const;
  AuthorizationStatus authorize_by_rules(const AuthRequest& auth) const;
  const TopicRegistry* topic_rules_ = nullptr;

  BroadcastManager& manager_;
  std::set<std::string, std::less<>> connections_;  // configured names (the config is immutable)
  ServerConfig config_;
  std::optional<std::string> authorize_path_;
  std::shared_ptr<spdlog::logger> logger_;
  Metrics& metrics_;

  // /healthz answers from this cache; a background thread asks every driver every
  // `health_refresh_ms`, so requests never do backend I/O.
  struct HealthCache;
  std::shared_ptr<HealthCache> health_;
  void refresh_health();
  std::unique_ptr<ThreadGroup> health_thread_;
};

}  // namespace herald
