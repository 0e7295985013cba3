// The event envelope shared by every driver that needs an event name (pusher, redis with
// format = "laravel", websocket): docs/reference.md section 5, a contract.
//
// A message that is a JSON object with an `event` string and a `data` member is that event with
// that data; any other message is the connection's default event with the message as data. The
// object may name a `socket` (a Pusher socket id, Laravel's toOthers()): the client that caused
// the event, which drivers that can (pusher, websocket) leave out.
// Header-only; needs Boost.JSON (link Boost::json).
#pragma once

#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace herald::plugins {

struct EventEnvelope {
  std::string event;
  // The data as JSON text, for wire formats that embed a JSON value (Laravel's Redis format).
  // A message that is not JSON becomes a JSON string.
  std::string data_json;
  // The data as a string, for wire formats whose data is a string (Pusher): a JSON string's
  // content, any other JSON value as compact JSON text, a non-JSON message unchanged.
  std::string data_text;
  // The `socket` member as given (compact JSON when it is not a string); empty when absent.
  // Drivers check it with is_socket_id and refuse the message when it is not one.
  std::string socket;
};

// A Pusher socket id: digits '.' digits.
inline bool is_socket_id(std::string_view s) noexcept {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size() || s.size() > 41) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != dot && (s[i] < '0' || s[i] > '9')) return false;
  return true;
}

inline EventEnvelope to_event(std::string_view message, std::string_view default_event) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(message, ec);
  if (!ec) {
    if (const boost::json::object* o = parsed.if_object()) {
      const boost::json::value* event = o->if_contains("event");
      const boost::json::value* data = o->if_contains("data");
      if (event != nullptr && event->is_string() && data != nullptr) {
        EventEnvelope e{std::string(event->get_string()), boost::json::serialize(*data), {}, {}};
        e.data_text = data->is_string() ? std::string(data->get_string()) : e.data_json;
        if (const boost::json::value* socket = o->if_contains("socket"); socket && !socket->is_null())
          e.socket = socket->is_string() ? std::string(socket->get_string())
                                         : boost::json::serialize(*socket);
        return e;
      }
    }
    return {std::string(default_event), std::string(message), std::string(message), {}};
  }
  return {std::string(default_event), boost::json::serialize(boost::json::string(message)),
          std::string(message), {}};
}

}  // namespace herald::plugins
