// What `herald serve` answers (docs/reference.md section 4): the publish API, the authorization
// endpoint (Spiral's AuthorizationMiddleware), /healthz and /metrics.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

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

  bool may_block(const HttpRequest& request) const override;
  HttpResponse handle(const HttpRequest& request, const std::string& remote) override;

 private:
  HttpResponse publish(const HttpRequest& request);
  HttpResponse authorize(const HttpRequest& request, const std::string& remote);
  HttpResponse health(const HttpRequest& request);
  HttpResponse metrics(const HttpRequest& request);
  bool api_key_accepted(const HttpRequest& request) const;
  // The Origin when CORS allows it for the authorize path, else nullopt.
  std::optional<std::string> allowed_origin(const HttpRequest& request) const;

  BroadcastManager& manager_;
  std::set<std::string, std::less<>> connections_;  // configured names (the config is immutable)
  ServerConfig config_;
  std::optional<std::string> authorize_path_;
  std::shared_ptr<spdlog::logger> logger_;
  Metrics& metrics_;
};

}  // namespace herald
