// Pusher webhooks of a `websocket` connection (README.md "Webhooks", protocols.md section 4):
// channel_occupied, channel_vacated, member_added, member_removed and client_event, POSTed as
// {"time_ms":..,"events":[..]} with X-Pusher-Key and X-Pusher-Signature (hex HMAC-SHA256 of the
// raw body with the app secret) to every configured URL whose `events` filter wants them.
//
// The event methods are cheap, never block on the network and are thread-safe: they append to
// a bounded queue per target (full: the event is dropped, counted, warned about at most once
// per interval). One sender thread batches what is pending (up to 50 events or 100 ms),
// retries a batch that got no 2xx with exponential backoff for `webhook_retry_s` in all, then
// gives it up (counted, warned about at most once per interval; the secret and the event data
// are never logged). The class knows nothing of sockets or registries: whoever owns the
// channel state (one node's registry today, the cluster-wide one later) calls it where a
// channel becomes occupied or vacated and where a presence member is added or removed.
#pragma once

#include <herald/driver.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/pusher/pusher_signing.hpp"
#include "websocket/websocket_settings.hpp"

namespace herald::websocket {

// The wire format, separate so unit tests check it byte for byte. Each returns one event
// object, or "" when a field is not valid UTF-8 (the event is then skipped).
namespace webhook_format {

// {"name":"channel_occupied"|"channel_vacated","channel":C}
std::string channel_event(std::string_view name, std::string_view channel);
// {"name":"member_added"|"member_removed","channel":C,"user_id":U}
std::string member_event(std::string_view name, std::string_view channel,
                         std::string_view user_id);
// {"name":"client_event","channel":C,"event":E,"data":D,"socket_id":S[,"user_id":U]}
// (user_id only when non-empty: presence channels).
std::string client_event(std::string_view channel, std::string_view event, std::string_view data,
                         std::string_view socket_id, std::string_view user_id);
// {"time_ms":T,"events":[E1,E2,..]} from event objects made above.
std::string body(std::int64_t time_ms, const std::vector<std::string>& events);
// The X-Pusher-Signature of `body`: lowercase hex HMAC-SHA256(secret, body).
std::string signature(std::string_view secret, std::string_view body);

}  // namespace webhook_format

class Webhooks {
 public:
  // Events per POST at most, and how long the first pending event waits for company.
  static constexpr std::size_t kBatchEvents = 50;
  static constexpr std::size_t kBatchBytes = 1024 * 1024;  // a batch stops growing past this
  static constexpr int kLingerMs = 100;
  // Bytes queued for all targets together; beyond it events are dropped like a full queue.
  static constexpr std::size_t kQueueBytes = 64 * 1024 * 1024;
  // How long the destructor keeps sending what is pending (plus one attempt in flight).
  static constexpr int kShutdownGraceMs = 2000;
  // At most one warning per this many seconds for drops, and one for given-up batches.
  static constexpr int kWarnIntervalS = 10;

  // `settings.webhooks` (targets and knobs) and `settings.connection` (metrics label); the
  // credentials' key and secret sign every request; `host` is for logging only. Starts the
  // sender thread.
  Webhooks(const Settings& settings, pusher::Credentials credentials, herald::sdk::Host host);
  // Stops accepting events, sends what is pending for up to kShutdownGraceMs, joins.
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // A channel's subscriptions went 0 -> 1 / 1 -> 0 (cluster-wide, once per channel).
  void channel_occupied(std::string_view channel);
  void channel_vacated(std::string_view channel);
  // A presence channel's user joined with its first socket / left with its last one.
  void member_added(std::string_view channel, std::string_view user_id);
  void member_removed(std::string_view channel, std::string_view user_id);
  // A client event that passed every check and was relayed; `user_id` non-empty on presence.
  void client_event(std::string_view channel, std::string_view event, std::string_view data,
                    std::string_view socket_id, std::string_view user_id);

  struct Stats {
    std::uint64_t events = 0;   // queued for a target (one per target that wants it)
    std::uint64_t sent = 0;     // batches answered with 2xx
    std::uint64_t failed = 0;   // batches given up after retrying
    std::uint64_t dropped = 0;  // events not queued: a target's queue was full
  };
  Stats stats() const;

  // Prometheus text: herald_ws_webhook_{events,sent,failed,dropped}_total{connection=".."}.
  std::string metrics_text() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::websocket
