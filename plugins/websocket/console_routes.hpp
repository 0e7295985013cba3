// The live console of a `websocket` connection (README.md "Console"): the page at `GET /` and
// its assets under `/console/`, plus two small JSON endpoints the page calls with the
// connection's app secret as a Bearer token. Independent of the server: everything it needs comes
// in a ConsoleContext (values and callbacks), so the routes are testable on their own.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace herald::websocket {

struct ConsoleChannel {
  std::string name;
  std::size_t subscriptions = 0;
  std::size_t users = 0;  // presence channels: distinct users
};

struct ConsoleCounts {
  std::size_t connections = 0;
  std::vector<ConsoleChannel> channels;  // occupied channels, sorted by name
};

// What the Pusher REST `events` endpoint answers: a status and a JSON body.
struct ConsolePublishResult {
  int status = 200;
  std::string body;
};

struct ConsoleContext {
  std::string app_id;
  std::string app_key;
  std::string secret;  // compared with the Bearer token; never echoed
  std::function<ConsoleCounts()> counts;
  // Events in the REST form ({"name","channel","data"}), validated and delivered as
  // `POST /apps/{app_id}/events` would.
  std::function<ConsolePublishResult(const boost::json::array& events)> publish;
};

struct ConsoleRequest {
  std::string_view method;
  std::string_view path;           // without the query string
  std::string_view host;           // the Host header (the page's origin, for its CSP)
  std::string_view authorization;  // the Authorization header
  std::string_view body;
};

struct ConsoleReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
};

// `/`, or under `/console/`: the paths handle_console answers (when the console is on).
bool is_console_path(std::string_view path) noexcept;

// Answers one request to a console path.
ConsoleReply handle_console(const ConsoleContext& context, const ConsoleRequest& request);

// The embedded asset `file` (index.html, console.css, console.js, favicon.svg), or empty.
// Defined in the console_assets.cpp generated at build time from plugins/websocket/console/.
std::string_view console_asset(std::string_view file) noexcept;

}  // namespace herald::websocket
