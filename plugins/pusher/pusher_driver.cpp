// The `pusher` driver: publishes through the Pusher Channels REST API (Pusher, Soketi, Reverb,
// Herald's websocket driver) and, as a guard, signs Pusher channel authorization and user
// sign-in at the host's authorize path. Settings: README.md.
#include <herald/driver.hpp>

#include "common/pusher/pusher_guard.hpp"
#include "common/pusher/pusher_rest.hpp"

namespace {

using herald::sdk::Config;
using herald::sdk::Host;

class PusherDriver final : public herald::sdk::Broadcast,
                           public herald::sdk::Guard,
                           public herald::sdk::HealthCheck {
 public:
  PusherDriver(const Host& host, const Config& config)
      : rest_(config), guard_(host, config) {}

  // `herald check`: both halves read the same connection table.
  static void validate(const Config& config) {
    herald::pusher::PusherRest::validate(config);
    herald::pusher::PusherGuard::validate(config);
  }

  void publish(herald::sdk::Texts topics, herald::sdk::Texts messages) override {
    rest_.publish(topics, messages);
  }

  void authorize(const herald::sdk::Request& request,
                 const herald::sdk::AuthResult& result) override {
    guard_.authorize(request, result);
  }

  void health() override { rest_.health(); }

 private:
  herald::pusher::PusherRest rest_;
  herald::pusher::PusherGuard guard_;
};

}  // namespace

HERALD_DRIVER(PusherDriver, "pusher", "1.0.0",
              "Publishes through the Pusher Channels REST API; signs Pusher channel authorization")
