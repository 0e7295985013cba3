// The `websocket` driver (README.md): inside `herald serve` it runs Herald's own Pusher
// protocol 7 server and Pusher HTTP API on `listen`; in a one-shot command it publishes through
// that running server's signed HTTP API instead of starting a second, empty server. Either way
// it is a guard with the pusher driver's channel-authorization answers.
#include <herald/driver.hpp>

#include <memory>
#include <string>

#include "common/pusher/pusher_guard.hpp"
#include "common/pusher/pusher_rest.hpp"
#include "websocket/websocket_settings.hpp"
#include "websocket/ws_server.hpp"

namespace {

using herald::sdk::Config;
using herald::sdk::Host;
namespace ws = herald::websocket;

// The one-shot role: the running server's Pusher HTTP API, signed with this connection's secret.
herald::pusher::RestSettings client_settings(const ws::Settings& s, const Config& config) {
  herald::pusher::RestSettings r;
  r.credentials = {s.app_id, s.key, s.secret};
  std::string host = s.listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";  // a wildcard bind is reached on loopback
  if (host == "::") host = "::1";
  const bool v6 = host.find(':') != std::string::npos;
  // TLS: the running server's certificate is verified (tls_ca, else the system's store), for
  // the listen host: the certificate must name it (e.g. IP SAN 127.0.0.1).
  r.base_url = std::string(s.tls() ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) +
               ":" + std::to_string(s.listen.port);
  r.event = s.event;
  r.max_data_bytes = s.max_message_bytes;
  r.client.timeout = std::chrono::milliseconds(config.integer("timeout_ms").value_or(5000));
  r.client.connect_timeout = std::min(r.client.timeout, std::chrono::milliseconds(2000));
  r.client.retries = 0;  // refused means nobody listens: say so at once
  r.client.headers = {"Content-Type: application/json"};
  r.client.redact = {s.secret};
  r.client.ca_file = s.tls_ca;
  r.unreachable_message =
      s.tls() ? "cannot reach herald over TLS on " + s.listen.str() +
                    " (is `herald serve` running with this config, and does tls_ca (else the "
                    "system's CA store) trust its certificate?)"
              : "no herald is listening on " + s.listen.str() +
                    " (start `herald serve` with this config)";
  return r;
}

class WebsocketDriver final : public herald::sdk::Broadcast,
                              public herald::sdk::Guard,
                              public herald::sdk::HealthCheck,
                              public herald::sdk::MetricsSource {
 public:
  WebsocketDriver(const Host& host, const Config& config)
      : settings_(ws::read_settings(config)), guard_(host, config) {
    if (host.serving()) {
      server_ = std::make_unique<ws::Server>(host, settings_);
    } else {
      if (settings_.listen.port == 0)
        throw herald::sdk::ConfigError(
            "`listen` has port 0: a one-shot command cannot find the running server");
      client_ = std::make_unique<herald::pusher::PusherRest>(client_settings(settings_, config));
    }
  }

  static void validate(const Config& config) {
    ws::read_settings(config);
    herald::pusher::PusherGuard::validate(config);
  }

  void publish(herald::sdk::Texts topics, herald::sdk::Texts messages) override {
    if (server_)
      server_->publish(topics, messages);
    else
      client_->publish(topics, messages);
  }

  void authorize(const herald::sdk::Request& request,
                 const herald::sdk::AuthResult& result) override {
    guard_.authorize(request, result);
  }

  void health() override {
    if (client_) return client_->health();
    if (std::string problem = server_->health_problem(); !problem.empty())
      throw herald::sdk::Error(problem);
  }

  void metrics(const Out& out) override {
    if (server_) out(server_->metrics_text());
  }

 private:
  ws::Settings settings_;
  herald::pusher::PusherGuard guard_;
  std::unique_ptr<ws::Server> server_;
  std::unique_ptr<herald::pusher::PusherRest> client_;
};

}  // namespace

HERALD_DRIVER(WebsocketDriver, "websocket", "1.0.0",
              "Herald's own Pusher protocol 7 WebSocket server and Pusher HTTP API")
