// The pusher driver's publishing half: the Pusher Channels REST API (protocols.md section 2), as
// served by Pusher, Soketi, Reverb and Herald's own websocket driver.
//
// One `publish` call becomes the fewest signed requests that respect Pusher's limits:
// - one message: POST /apps/{app_id}/events with up to 100 channels per request (larger topic
//   lists are split, as Laravel's PusherBroadcaster does);
// - several messages: either one /events request per message and per 100 channels, or
//   /batch_events with one event per (message, topic) - each batch event has one `channel` - at
//   most 10 per request; whichever needs fewer requests (a tie goes to /events). Requests go out
//   in order, so every channel sees the messages in order.
// A message that is a JSON object with `event` and `data` picks its event name; anything else is
// the connection's `event` (default "message") with the message as data (event_envelope.hpp;
// Pusher's `data` is always a string). Event data over `max_data_bytes` (default 10240, Pusher's
// limit) is refused before anything is sent.
//
// The planning below is header-only so unit tests compile it in; PusherRest (pusher_rest.cpp)
// adds the signed HTTP requests through plugins/common/http_client.hpp.
#pragma once

#include <herald/driver.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_envelope.hpp"
#include "common/http_client.hpp"
#include "common/pusher/pusher_signing.hpp"

namespace herald::pusher {

constexpr std::size_t kMaxChannelsPerEvent = 100;  // Pusher, Soketi: channels per trigger
constexpr std::size_t kMaxBatchEvents = 10;        // Pusher, Soketi: events per batch
constexpr std::size_t kMaxChannelName = 200;       // pusher-http-node validateChannel, Soketi
constexpr std::size_t kMaxEventName = 200;         // Pusher, Soketi

struct RestSettings {
  Credentials credentials;
  std::string base_url;  // scheme://host:port, no trailing '/'
  std::string event = "message";
  std::size_t max_data_bytes = 10240;
  plugins::http::ClientOptions client;
  // When set, a transport failure (refused, timeout) is reported as this one line instead of
  // "cannot reach the Pusher API" (the websocket driver: "no herald is listening on ...").
  std::string unreachable_message;
};

// Reads and checks the REST settings (`app_id`, `key`, `secret`, `host`, `port`, `scheme`,
// `cluster`, `event`, `max_data_bytes` and the transport settings); throws ConfigError naming
// the key. No side effects.
inline RestSettings read_rest_settings(const herald::sdk::Config& config) {
  using herald::sdk::ConfigError;
  RestSettings s;
  auto required = [&](std::string_view key) {
    auto v = config.string(key);
    if (!v || v->empty()) throw ConfigError(config.describe(key) + " is required");
    for (char c : *v)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
        throw ConfigError(config.describe(key) + " must not contain spaces or control characters");
    return *v;
  };
  s.credentials.app_id = required("app_id");
  for (char c : s.credentials.app_id)
    if (c == '/' || c == '?' || c == '#' || c == '%' || c == '&')
      throw ConfigError(config.describe("app_id") + " must not contain '/', '?', '#', '%' or '&'");
  s.credentials.key = required("key");
  for (char c : s.credentials.key)  // it goes into the query unescaped, as Pusher signs it
    if (c == '&' || c == '=' || c == '#' || c == '%' || c == '+')
      throw ConfigError(config.describe("key") + " must not contain '&', '=', '#', '%' or '+'");
  s.credentials.secret = required("secret");

  const std::string scheme = config.string_or("scheme", "https");
  if (scheme != "http" && scheme != "https")
    throw ConfigError(config.describe("scheme") + " is `" + scheme + "`; expected http or https");
  std::string host = config.string_or("host", "");
  const std::string cluster = config.string_or("cluster", "");
  for (char c : cluster)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      throw ConfigError(config.describe("cluster") + " is `" + cluster +
                        "`; expected a cluster name such as mt1 or eu");
  if (host.empty()) host = cluster.empty() ? "api.pusherapp.com" : "api-" + cluster + ".pusher.com";
  if (host.find("://") != std::string::npos)
    throw ConfigError(config.describe("host") + " is a host name, not a URL (use `scheme`)");
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';  // IPv6
  for (char c :
       bracketed ? std::string_view(host).substr(1, host.size() - 2) : std::string_view(host)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || (bracketed && c == ':');
    if (!ok)
      throw ConfigError(config.describe("host") + " `" + host +
                        "` is not a host name (no port, path or scheme: see `port`, `scheme`)");
  }
  const std::int64_t port = config.integer("port").value_or(scheme == "https" ? 443 : 80);
  if (port < 1 || port > 65535)
    throw ConfigError(config.describe("port") + " is " + std::to_string(port) +
                      "; expected 1..65535");
  s.base_url = scheme + "://" + host + ":" + std::to_string(port);

  s.event = config.string_or("event", "message");
  if (s.event.empty() || s.event.size() > kMaxEventName)
    throw ConfigError(config.describe("event") + " must be 1.." + std::to_string(kMaxEventName) +
                      " characters");
  const std::int64_t max_data = config.integer("max_data_bytes").value_or(10240);
  if (max_data < 1 || max_data > 64 * 1024 * 1024)
    throw ConfigError(config.describe("max_data_bytes") + " is " + std::to_string(max_data) +
                      "; expected 1..67108864");
  s.max_data_bytes = static_cast<std::size_t>(max_data);

  s.client = plugins::http::read_client_options(config);
  // Pusher cannot drop a duplicate event: retry only what certainly was not received, unless
  // the user prefers at-least-once.
  s.client.retry_unanswered = config.boolean("retry_unanswered").value_or(false);
  s.client.headers = {"Content-Type: application/json"};
  s.client.redact = {s.credentials.secret};
  return s;
}

// Pusher's channel name rule (pusher-php-server): [-a-zA-Z0-9_=@,.;]+ with an optional leading
// '#' (server-to-user channels), at most 200 characters.
inline bool valid_channel(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxChannelName) return false;
  if (name.front() == '#') name.remove_prefix(1);
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '=' || c == '@' || c == ',' || c == '.' ||
                    c == ';';
    if (!ok) return false;
  }
  return true;
}

struct RestRequest {
  std::string path;  // "/apps/{app_id}/events" or "/apps/{app_id}/batch_events"
  std::string body;
  std::size_t events = 0;    // events in the body (1 for /events)
  std::size_t channels = 0;  // deliveries it asks for
};

// Which endpoint a call uses and how many requests it takes (see the header comment).
struct Plan {
  bool batch = false;
  std::size_t requests = 0;
};
inline Plan plan(std::size_t n_topics, std::size_t n_messages) {
  const std::size_t chunks = (n_topics + kMaxChannelsPerEvent - 1) / kMaxChannelsPerEvent;
  const std::size_t per_event = n_messages * chunks;
  const std::size_t batched = (n_topics * n_messages + kMaxBatchEvents - 1) / kMaxBatchEvents;
  if (n_messages <= 1 || per_event <= batched) return {false, per_event};
  return {true, batched};
}

namespace rest_detail {

// One message's event name and data as JSON members, checked before anything is sent.
struct EncodedEvent {
  std::string name_json, data_json;
  std::string socket_member;  // ,"socket_id":"1.2" or empty
};

inline void check_channels(herald::sdk::Texts topics) {
  for (std::size_t i = 0; i < topics.size(); ++i)
    if (!valid_channel(topics[i]))
      throw herald::sdk::InvalidArgument(
          "topic " + std::to_string(i + 1) + " `" + plugins::http::one_line(topics[i], 80) +
          "` is not a Pusher channel name (1..200 of A-Z a-z 0-9 _ - = @ , . ;)");
}

// Message `index` (0-based) as an event; throws InvalidArgument naming it when Pusher would
// refuse it or it is not UTF-8.
inline EncodedEvent encode_event(std::string_view message, std::size_t index,
                                 const RestSettings& s) {
  using herald::sdk::InvalidArgument;
  plugins::EventEnvelope e = plugins::to_event(message, s.event);
  const std::string which = "message " + std::to_string(index + 1);
  if (e.data_text.size() > s.max_data_bytes)
    throw InvalidArgument(which + ": event data is " + std::to_string(e.data_text.size()) +
                          " bytes, over the " + std::to_string(s.max_data_bytes) +
                          "-byte limit (`max_data_bytes`)");
  if (e.event.empty() || e.event.size() > kMaxEventName)
    throw InvalidArgument(which + ": the event name must be 1.." + std::to_string(kMaxEventName) +
                          " characters");
  EncodedEvent ev;
  if (!e.socket.empty()) {
    if (!plugins::is_socket_id(e.socket))
      throw InvalidArgument(which + ": `socket` must be a socket id such as \"123.456\"");
    ev.socket_member = ",\"socket_id\":\"" + e.socket + "\"";
  }
  if (!plugins::http::append_json_string(ev.name_json, e.event) ||
      !plugins::http::append_json_string(ev.data_json, e.data_text))
    throw InvalidArgument(which + " is not valid UTF-8 text");
  return ev;
}

// /events: each event to the topics, kMaxChannelsPerEvent channels per request.
inline void append_event_requests(std::vector<RestRequest>& out, const std::string& apps,
                                  const std::vector<EncodedEvent>& events,
                                  herald::sdk::Texts topics) {
  for (const EncodedEvent& ev : events) {
    for (std::size_t from = 0; from < topics.size(); from += kMaxChannelsPerEvent) {
      const std::size_t to = std::min(topics.size(), from + kMaxChannelsPerEvent);
      RestRequest r;
      r.path = apps + "/events";
      r.events = 1;
      r.channels = to - from;
      r.body.reserve(40 + ev.name_json.size() + ev.data_json.size() + 24 * (to - from));
      r.body += "{\"name\":";
      r.body += ev.name_json;
      r.body += ",\"data\":";
      r.body += ev.data_json;
      r.body += ev.socket_member;
      r.body += ",\"channels\":[";
      for (std::size_t t = from; t < to; ++t) {
        if (t != from) r.body += ',';
        plugins::http::append_json_string(r.body, topics[t]);  // valid: checked before
      }
      r.body += "]}";
      out.push_back(std::move(r));
    }
  }
}

// /batch_events: message-major, so each channel gets the messages in order; kMaxBatchEvents
// events per request.
inline void append_batch_requests(std::vector<RestRequest>& out, const std::string& apps,
                                  const std::vector<EncodedEvent>& events,
                                  herald::sdk::Texts topics) {
  RestRequest r;
  for (const EncodedEvent& ev : events) {
    for (std::string_view topic : topics) {
      if (r.events == 0) {
        r.path = apps + "/batch_events";
        r.body = "{\"batch\":[";
      } else {
        r.body += ',';
      }
      r.body += "{\"name\":";
      r.body += ev.name_json;
      r.body += ",\"channel\":";
      plugins::http::append_json_string(r.body, topic);
      r.body += ",\"data\":";
      r.body += ev.data_json;
      r.body += ev.socket_member;
      r.body += '}';
      ++r.events;
      ++r.channels;
      if (r.events == kMaxBatchEvents) {
        r.body += "]}";
        out.push_back(std::move(r));
        r = RestRequest{};
      }
    }
  }
  if (r.events != 0) {
    r.body += "]}";
    out.push_back(std::move(r));
  }
}

}  // namespace rest_detail

// The requests that publish every message to every topic, in order. Throws InvalidArgument
// (before anything is sent) for a topic that is not a valid channel name, an event name or data
// that Pusher would refuse, or text that is not UTF-8.
inline std::vector<RestRequest> build_requests(herald::sdk::Texts topics,
                                               herald::sdk::Texts messages, const RestSettings& s) {
  std::vector<RestRequest> out;
  if (messages.empty()) return out;
  rest_detail::check_channels(topics);
  std::vector<rest_detail::EncodedEvent> events;
  events.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i)
    events.push_back(rest_detail::encode_event(messages[i], i, s));

  const std::string apps = "/apps/" + s.credentials.app_id;
  const Plan p = plan(topics.size(), messages.size());
  out.reserve(p.requests);
  if (p.batch)
    rest_detail::append_batch_requests(out, apps, events, topics);
  else
    rest_detail::append_event_requests(out, apps, events, topics);
  return out;
}

// The useful part of a non-2xx reply: Soketi's/Reverb's {"error":".."} or {"message":".."}, or
// Pusher's plain-text body, on one line.
inline std::string reply_message(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    for (const char* key : {"error", "message"}) {
      if (const auto* m = v.get_object().if_contains(key); m != nullptr && m->is_string())
        return plugins::http::one_line(m->get_string(), 200);
    }
  }
  return plugins::http::one_line(body, 200);
}

// The REST publisher behind the pusher driver (see pusher_driver.cpp). Thread-safe.
class PusherRest {
 public:
  explicit PusherRest(const herald::sdk::Config& config);
  explicit PusherRest(RestSettings settings);
  ~PusherRest();
  PusherRest(const PusherRest&) = delete;
  PusherRest& operator=(const PusherRest&) = delete;

  static void validate(const herald::sdk::Config& config) { read_rest_settings(config); }

  // Every message to every topic; throws herald::sdk::Error (InvalidArgument for input Pusher
  // would refuse, before anything is sent).
  void publish(herald::sdk::Texts topics, herald::sdk::Texts messages);

  // Throws herald::sdk::Error when the last request failed in transport, was refused (401/403)
  // or met a server error; cheap, never publishes.
  void health();

 private:
  void set_problem(std::string problem);

  RestSettings settings_;
  std::unique_ptr<plugins::http::HttpClient> client_;
  std::mutex mutex_;
  std::string problem_;
  std::atomic<bool> has_problem_{false};
};

}  // namespace herald::pusher
