// What the `redis` driver writes: the payload of each message (raw, or Laravel's broadcast JSON)
// and the PUBLISH commands of one call, already encoded as RESP so the whole call goes to Redis
// as one pipelined write. Header-only, no hiredis, so the unit tests check the exact bytes.
#pragma once

#include <charconv>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "common/event_envelope.hpp"
#include "redis/redis_settings.hpp"

namespace herald::redis {

// Laravel's RedisBroadcaster payload, which laravel-echo-server parses:
// {"event":"<event>","data":<data as JSON>,"socket":null} (or the envelope's `socket`, which
// laravel-echo-server leaves out). The event envelope (docs/reference.md
// section 5) decides the event and the data.
inline std::string laravel_payload(std::string_view message, std::string_view default_event) {
  const herald::plugins::EventEnvelope e = herald::plugins::to_event(message, default_event);
  std::string out;
  out.reserve(e.event.size() + e.data_json.size() + 40);
  out += R"({"event":)";
  out += boost::json::serialize(boost::json::string_view(e.event));
  out += R"(,"data":)";
  out += e.data_json;
  out += R"(,"socket":)";
  out += e.socket.empty() ? "null" : boost::json::serialize(boost::json::string_view(e.socket));
  out += '}';
  return out;
}

// Appends PUBLISH <prefix+topic> <payload> for every payload x topic (payloads outer, as
// Spiral publishes each message to all topics) and returns the number of commands.
inline size_t append_publishes(std::string& out, std::string_view prefix,
                               std::span<const std::string_view> topics,
                               std::span<const std::string_view> payloads) {
  for (std::string_view payload : payloads) {
    for (std::string_view topic : topics) {
      out += "*3\r\n$7\r\nPUBLISH\r\n";
      append_bulk(out, prefix, topic);
      append_bulk(out, payload);
    }
  }
  return topics.size() * payloads.size();
}

// The payloads of one call: the messages themselves (raw) or their Laravel JSON, which then
// owns the bytes.
class Payloads {
 public:
  Payloads(Format format, std::string_view default_event,
           std::span<const std::string_view> messages)
      : views_(messages) {
    if (format == Format::raw) return;
    owned_.reserve(messages.size());
    for (std::string_view m : messages) owned_.push_back(laravel_payload(m, default_event));
    converted_.assign(owned_.begin(), owned_.end());
    views_ = converted_;
  }
  Payloads(const Payloads&) = delete;
  Payloads& operator=(const Payloads&) = delete;

  std::span<const std::string_view> views() const noexcept { return views_; }

 private:
  std::span<const std::string_view> views_;
  std::vector<std::string> owned_;
  std::vector<std::string_view> converted_;
};

}  // namespace herald::redis
