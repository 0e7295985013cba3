// The websocket driver's server: Pusher protocol 7 over WebSocket at /app/{key} and the Pusher
// HTTP API at /apps/{app_id}/... on one listening socket (README.md). Thread-safe: `publish`
// and `metrics_text` may be called from any thread while the event loops run.
#pragma once

#include <herald/driver.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "websocket/websocket_settings.hpp"

namespace herald::websocket {

class Server {
 public:
  // Binds `settings.listen` and starts the event-loop threads. Throws herald::sdk::Error when
  // the address cannot be bound (in use, not local).
  Server(const herald::sdk::Host& host, Settings settings);
  // Closes every socket (close 4200: reconnect) and joins the threads.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Every message to every subscriber of every topic (the event envelope decides the event
  // name). Throws herald::sdk::InvalidArgument for a bad channel name or oversized data.
  void publish(herald::sdk::Texts topics, herald::sdk::Texts messages);

  // Prometheus text for the host's GET /metrics.
  std::string metrics_text() const;

  std::uint16_t port() const noexcept;

  // Empty while the listener accepts; otherwise what is wrong (e.g. out of descriptors).
  std::string health_problem() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::websocket
