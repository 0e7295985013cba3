// The console's routes (console_routes.hpp). The page and its assets are public (they hold no
// secret: the app key is public by design); /console/api/* needs the app secret as a Bearer
// token, compared in constant time. Every reply is one-line JSON or an embedded asset.
#include "websocket/console_routes.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "common/pusher/pusher_signing.hpp"

namespace herald::websocket {

namespace json = boost::json;

namespace {

constexpr std::string_view kApiPrefix = "/console/api/";

std::string error_body(std::string_view message) {
  json::object o;
  o["error"] = message;
  return json::serialize(o);
}

ConsoleReply api_reply(int status, std::string body) {
  ConsoleReply r;
  r.status = status;
  r.body = std::move(body);
  r.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

ConsoleReply api_error(int status, std::string_view message) {
  return api_reply(status, error_body(message));
}

ConsoleReply method_not_allowed(std::string_view allow) {
  ConsoleReply r = api_error(405, "use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

bool host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':' || c == '[' || c == ']';
}

// The page's Content-Security-Policy. Scripts, styles and images only from this server;
// connections to this server's WebSocket and to any port of the page's host name (the authorize
// endpoint of `herald serve`, by default port 8080 of the same host). A Host header that is not
// a plain host[:port] gets 'self' alone.
std::string content_security_policy(std::string_view host) {
  std::string connect = "'self'";
  const bool plain =
      !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), host_char);
  if (plain) {
    std::string_view name = host;
    if (name.front() == '[') {
      const auto close = name.find(']');
      name = close == std::string_view::npos ? std::string_view{} : name.substr(0, close + 1);
    } else {
      name = name.substr(0, name.find(':'));
    }
    if (!name.empty()) {
      const std::string h(host), n(name);
      connect += " ws://" + h + " wss://" + h + " http://" + n + ":* https://" + n + ":*";
    }
  }
  return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
         "connect-src " +
         connect +
         "; object-src 'none'; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

ConsoleReply asset_reply(std::string_view bytes, std::string_view content_type) {
  ConsoleReply r;
  r.content_type = std::string(content_type);
  r.body = std::string(bytes);
  r.headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void replace_all(std::string& text, std::string_view what, const std::string& with) {
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
}

// `Authorization: Bearer <secret>`: the token's and the secret's HMACs (equal lengths) are
// compared in constant time, so neither the secret's length nor its bytes leak through timing.
std::optional<std::string> refuse_key(const ConsoleContext& context, std::string_view header) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  constexpr std::string_view scheme = "bearer ";
  bool bearer = header.size() > scheme.size();
  for (std::size_t i = 0; bearer && i < scheme.size(); ++i) bearer = lower(header[i]) == scheme[i];
  if (!bearer)
    return std::string(
        "the console API needs `Authorization: Bearer <app secret>` "
        "(the connection's `secret`)");
  std::string_view token = header.substr(scheme.size());
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  constexpr std::string_view kLabel = "herald-console-key";
  const bool ok = !context.secret.empty() &&
                  pusher::constant_time_equals(pusher::hmac_sha256_hex(token, kLabel),
                                               pusher::hmac_sha256_hex(context.secret, kLabel));
  if (!ok) return std::string("wrong API key: use the connection's app `secret`");
  return std::nullopt;
}

ConsoleReply stats(const ConsoleContext& context) {
  const ConsoleCounts counts = context.counts ? context.counts() : ConsoleCounts{};
  json::array channels;
  std::size_t subscriptions = 0;
  for (const auto& c : counts.channels) {
    json::object o;
    o["name"] = c.name;
    o["subscriptions"] = c.subscriptions;
    if (c.name.starts_with("presence-")) o["users"] = c.users;
    subscriptions += c.subscriptions;
    channels.push_back(std::move(o));
  }
  json::object reply;
  reply["app_id"] = context.app_id;
  reply["connections"] = counts.connections;
  reply["subscriptions"] = subscriptions;
  reply["channels"] = std::move(channels);
  return api_reply(200, json::serialize(reply));
}

ConsoleReply publish(const ConsoleContext& context, std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return api_error(400, "the body must be a JSON object {\"channel\",\"event\",\"data\"}");
  const json::object& in = v.get_object();
  for (const auto& item : in)
    if (item.key() != "channel" && item.key() != "event" && item.key() != "data")
      return api_error(400, "unknown field `" + std::string(item.key().substr(0, 40)) +
                                "`; expected channel, event and data");
  const json::value* channel = in.if_contains("channel");
  const json::value* event = in.if_contains("event");
  const json::value* data = in.if_contains("data");
  if (channel == nullptr || !channel->is_string() || channel->get_string().empty())
    return api_error(400, "`channel` must be a channel name");
  if (event == nullptr || !event->is_string())
    return api_error(400, "`event` must be a string of 1..200 characters");
  if (data == nullptr || !data->is_string())
    return api_error(400, "`data` must be a string (JSON text is sent as it is)");
  if (!context.publish) return api_error(503, "publishing is not available");
  json::object e;
  e["name"] = event->get_string();
  e["channel"] = channel->get_string();
  e["data"] = data->get_string();
  ConsolePublishResult result = context.publish(json::array{std::move(e)});
  if (result.status != 200) return api_reply(result.status, std::move(result.body));
  return api_reply(200, R"({"published":1})");
}

}  // namespace

bool is_console_path(std::string_view path) noexcept {
  return path == "/" || path.starts_with("/console/");
}

ConsoleReply handle_console(const ConsoleContext& context, const ConsoleRequest& request) {
  const std::string_view path = request.path;
  if (path.starts_with(kApiPrefix)) {
    const std::string_view what = path.substr(kApiPrefix.size());
    if (what != "stats" && what != "publish") return api_error(404, "unknown console endpoint");
    const std::string_view want = what == "stats" ? "GET" : "POST";
    if (request.method != want) return method_not_allowed(want);
    if (auto why = refuse_key(context, request.authorization)) {
      ConsoleReply r = api_error(401, *why);
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"herald-console\"");
      return r;
    }
    return what == "stats" ? stats(context) : publish(context, request.body);
  }

  struct Asset {
    std::string_view path, file, type;
  };
  static constexpr std::array<Asset, 4> kAssets = {{
      {"/", "index.html", "text/html; charset=utf-8"},
      {"/console/console.js", "console.js", "text/javascript; charset=utf-8"},
      {"/console/console.css", "console.css", "text/css; charset=utf-8"},
      {"/console/favicon.svg", "favicon.svg", "image/svg+xml"},
  }};
  const auto it =
      std::find_if(kAssets.begin(), kAssets.end(), [&](const Asset& a) { return a.path == path; });
  if (it == kAssets.end()) return api_error(404, "not found: the console is at /");
  if (request.method != "GET") return method_not_allowed("GET");
  ConsoleReply r = asset_reply(console_asset(it->file), it->type);
  if (it->file == "index.html") {
    replace_all(r.body, "{{APP_KEY}}", html_escape(context.app_key));
    replace_all(r.body, "{{APP_ID}}", html_escape(context.app_id));
    r.headers.emplace_back("Content-Security-Policy", content_security_policy(request.host));
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Frame-Options", "DENY");
  }
  return r;
}

}  // namespace herald::websocket
