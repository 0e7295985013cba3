// The centrifugo driver's logic without the transport: settings, request bodies for Centrifugo's
// server HTTP API (protocols.md section 5), reply checking, and the subscribe-proxy answer.
// Header-only so unit tests compile it in; the plugin adds libcurl (centrifugo_driver.cpp).
#pragma once

#include <herald/driver.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "common/http_client.hpp"

namespace herald::centrifugo {

using herald::sdk::Config;
using herald::sdk::ConfigError;
using herald::sdk::Texts;

// ---- Settings ----

struct Settings {
  std::string url;           // the API base without a trailing '/', e.g. http://127.0.0.1:8000/api
  std::string api_key;       // sent as X-API-Key
  bool skip_history = true;  // Spiral's Centrifugo driver publishes with skipHistory = true
  bool idempotency_keys = true;  // makes a retried publication a no-op on Centrifugo's side
  std::vector<std::pair<std::string, std::string>> tags;  // Publication.tags, sent as-is
  bool subscribe_proxy = false;  // answer subscribe-proxy requests as a guard
  plugins::http::ClientOptions client;
};

// Reads and checks every setting; throws ConfigError naming the key. No side effects.
inline Settings read_settings(const Config& config) {
  Settings s;
  const auto url = config.string("url");
  if (!url || url->empty())
    throw ConfigError(config.describe("url") +
                      " is required (the API base, e.g. \"http://127.0.0.1:8000/api\")");
  if (const std::string why = plugins::http::check_http_url(*url); !why.empty())
    throw ConfigError(config.describe("url") + " " + why);
  if (url->find_first_of("?#") != std::string::npos)
    throw ConfigError(config.describe("url") + " must not have a query or fragment");
  s.url = *url;
  while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();

  const auto key = config.string("api_key");
  if (!key || key->empty())
    throw ConfigError(config.describe("api_key") +
                      " is required (Centrifugo's http_api.key; use \"${VAR}\" to keep it out "
                      "of the file)");
  for (char c : *key)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      throw ConfigError(config.describe("api_key") + " must not contain control characters");
  s.api_key = *key;

  s.skip_history = config.boolean("skip_history").value_or(true);
  s.idempotency_keys = config.boolean("idempotency_keys").value_or(true);
  s.subscribe_proxy = config.boolean("subscribe_proxy").value_or(false);
  if (const herald_config_entry* e = config.find("tags")) {
    boost::system::error_code ec;
    const boost::json::value v =
        boost::json::parse(std::string_view(e->value.data, e->value.size), ec);
    const boost::json::object* o = (!e->is_string && !ec) ? v.if_object() : nullptr;
    if (o == nullptr) throw ConfigError(config.describe("tags") + " must be a table of strings");
    for (const auto& [name, value] : *o) {
      if (!value.is_string())
        throw ConfigError(config.describe("tags") + " value `" + std::string(name) +
                          "` must be a string");
      s.tags.emplace_back(std::string(name), std::string(value.get_string()));
    }
  }
  s.client = plugins::http::read_client_options(config);
  // Retrying an unanswered publication is safe only when Centrifugo drops the duplicate.
  s.client.retry_unanswered = config.boolean("retry_unanswered").value_or(s.idempotency_keys);
  s.client.headers = {"Content-Type: application/json", "X-API-Key: " + s.api_key};
  s.client.redact = {s.api_key};
  return s;
}

// ---- Request bodies ----

namespace detail {

// A Boost.JSON SAX handler that accepts everything: basic_parser then only checks syntax (and
// UTF-8), with no allocation per value.
struct SyntaxOnly {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  using ec = boost::json::error_code;
  using sv = boost::json::string_view;
  bool on_document_begin(ec&) { return true; }
  bool on_document_end(ec&) { return true; }
  bool on_object_begin(ec&) { return true; }
  bool on_object_end(std::size_t, ec&) { return true; }
  bool on_array_begin(ec&) { return true; }
  bool on_array_end(std::size_t, ec&) { return true; }
  bool on_key_part(sv, std::size_t, ec&) { return true; }
  bool on_key(sv, std::size_t, ec&) { return true; }
  bool on_string_part(sv, std::size_t, ec&) { return true; }
  bool on_string(sv, std::size_t, ec&) { return true; }
  bool on_number_part(sv, ec&) { return true; }
  bool on_int64(std::int64_t, sv, ec&) { return true; }
  bool on_uint64(std::uint64_t, sv, ec&) { return true; }
  bool on_double(double, sv, ec&) { return true; }
  bool on_bool(bool, ec&) { return true; }
  bool on_null(ec&) { return true; }
  bool on_comment_part(sv, ec&) { return true; }
  bool on_comment(sv, ec&) { return true; }
};

}  // namespace detail

// True when `text` is one complete, strict JSON value (RFC 8259; UTF-8 checked). The depth limit
// is Go's encoding/json limit, so whatever Centrifugo can decode is recognised.
inline bool is_json(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 10000;
  boost::json::basic_parser<detail::SyntaxOnly> parser(options);
  boost::json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  return !ec && used == text.size();
}

enum class Method { publish, broadcast, batch };

inline std::string_view method_path(Method m) noexcept {
  switch (m) {
    case Method::publish:
      return "/publish";
    case Method::broadcast:
      return "/broadcast";
    case Method::batch:
      return "/batch";
  }
  return "/publish";
}

struct ApiCall {
  Method method = Method::publish;
  std::string body;
};

// A fresh random prefix for the idempotency keys of one call; each command appends its index.
inline std::string random_key_prefix() {
  thread_local std::mt19937_64 random{std::random_device{}() ^
                                      (std::uint64_t(std::random_device{}()) << 32)};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = random();
    for (int i = 0; i < 16; ++i, v >>= 4) out[std::size_t(half * 16 + i)] = kHex[v & 0xF];
  }
  return out;
}

namespace detail {

inline void append_topics(std::string& out, Texts topics, std::size_t from, std::size_t count) {
  for (std::size_t i = from; i < from + count; ++i) {
    if (i != from) out += ',';
    if (topics[i].empty()) throw herald::sdk::InvalidArgument("a topic must not be empty");
    if (!plugins::http::append_json_string(out, topics[i]))
      throw herald::sdk::InvalidArgument("topic " + std::to_string(i + 1) + " is not valid UTF-8");
  }
}

// The members after "data": skip_history, tags, idempotency_key.
inline void append_options(std::string& out, const Settings& s, std::string_view key_prefix,
                           std::size_t index) {
  if (s.skip_history) out += ",\"skip_history\":true";
  if (!s.tags.empty()) {
    out += ",\"tags\":{";
    for (std::size_t i = 0; i < s.tags.size(); ++i) {
      if (i != 0) out += ',';
      bool ok = plugins::http::append_json_string(out, s.tags[i].first);
      out += ':';
      ok = ok && plugins::http::append_json_string(out, s.tags[i].second);
      if (!ok) throw herald::sdk::InvalidArgument("a tag is not valid UTF-8");
    }
    out += '}';
  }
  if (!key_prefix.empty()) {
    out += ",\"idempotency_key\":\"";
    out += key_prefix;
    out += '-';
    out += std::to_string(index);
    out += '"';
  }
}

// One publish (one topic) or broadcast (several) command body for message `index`.
inline void append_command(std::string& out, Texts topics, std::string_view message,
                           std::size_t index, const Settings& s, std::string_view key_prefix) {
  if (topics.size() == 1) {
    out += "{\"channel\":";
    append_topics(out, topics, 0, 1);
  } else {
    out += "{\"channels\":[";
    append_topics(out, topics, 0, topics.size());
    out += ']';
  }
  out += ",\"data\":";
  // A message that is JSON is sent as the data itself; any other text as a JSON string.
  if (is_json(message))
    out += message;
  else if (!plugins::http::append_json_string(out, message))
    throw herald::sdk::InvalidArgument("message " + std::to_string(index + 1) +
                                       " is neither JSON nor valid UTF-8 text");
  append_options(out, s, key_prefix, index);
  out += '}';
}

}  // namespace detail

// The one API call that publishes every message to every topic: /publish (one topic, one
// message), /broadcast (several topics, one message) or /batch (several messages, each a publish
// or broadcast command, run in order). `key_prefix` empty = no idempotency keys. Throws
// InvalidArgument for text that cannot be sent (empty topic, invalid UTF-8); nothing is sent then.
inline ApiCall build_call(Texts topics, Texts messages, const Settings& s,
                          std::string_view key_prefix) {
  ApiCall call;
  // One allocation: every command repeats the topics, plus ~100 bytes of keys and options.
  std::size_t per_command = 100;
  for (std::string_view t : topics) per_command += t.size() + 3;
  for (const auto& [name, value] : s.tags) per_command += name.size() + value.size() + 6;
  std::size_t reserve = 16;
  for (std::string_view m : messages) reserve += per_command + m.size() + 2;
  call.body.reserve(reserve);
  if (messages.size() == 1) {
    call.method = topics.size() == 1 ? Method::publish : Method::broadcast;
    detail::append_command(call.body, topics, messages[0], 0, s, key_prefix);
    return call;
  }
  call.method = Method::batch;
  const std::string_view kind = topics.size() == 1 ? "{\"publish\":" : "{\"broadcast\":";
  call.body += "{\"commands\":[";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i != 0) call.body += ',';
    call.body += kind;
    detail::append_command(call.body, topics, messages[i], i, s, key_prefix);
    call.body += '}';
  }
  call.body += "]}";
  return call;
}

// ---- Replies ----

namespace detail {

// "error 102 (unknown channel)" from {"code":102,"message":"unknown channel"}.
inline std::string describe_error(const boost::json::value& error) {
  std::string out = "error";
  if (const auto* o = error.if_object()) {
    // Appended piece by piece: `" " + std::string` trips GCC 12's -Wrestrict at -O3.
    if (const auto* code = o->if_contains("code"); code != nullptr && code->is_number()) {
      out += ' ';
      out += boost::json::serialize(*code);
    }
    if (const auto* message = o->if_contains("message");
        message != nullptr && message->is_string()) {
      out += " (";
      out += plugins::http::one_line(message->get_string(), 200);
      out += ')';
    }
  }
  return out;
}

// The first failed reply of a broadcast's per-channel `responses`, as "channel `c`: error ...";
// counts every failure into `failed`.
inline std::string broadcast_failures(const boost::json::value* responses, Texts topics,
                                      std::size_t& failed) {
  std::string first;
  const auto* list = responses != nullptr ? responses->if_array() : nullptr;
  if (list == nullptr) return first;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* reply = (*list)[i].if_object();
    const auto* error = reply != nullptr ? reply->if_contains("error") : nullptr;
    if (error == nullptr || error->is_null()) continue;
    ++failed;
    if (first.empty())
      first = (i < topics.size() ? "channel `" + std::string(topics[i]) + "`: " : std::string()) +
              describe_error(*error);
  }
  return first;
}

}  // namespace detail

// Checks Centrifugo's answer to `call` (HTTP status and body). Returns normally when every
// publication succeeded; throws herald::sdk::Error with Centrifugo's code and message otherwise
// (errors arrive in HTTP-200 bodies, whole-call or per channel/command). `where` names the
// request in messages ("POST http://host/api/publish").
inline void check_reply(const ApiCall& call, Texts topics, std::size_t n_messages, long status,
                        std::string_view body, std::string_view where) {
  using herald::sdk::Error;
  if (status == 401)
    throw Error("Centrifugo refused the API key (HTTP 401 from " + std::string(where) +
                "): check `api_key`");
  if (status != 200) {
    std::string text = plugins::http::one_line(body, 200);
    throw Error("Centrifugo answered HTTP " + std::to_string(status) + " to " + std::string(where) +
                (text.empty() ? std::string() : ": " + text));
  }
  boost::system::error_code ec;
  const boost::json::value reply = boost::json::parse(body, ec);
  const boost::json::object* o = ec ? nullptr : reply.if_object();
  if (o == nullptr)
    throw Error("Centrifugo sent an unreadable reply to " + std::string(where) + ": " +
                plugins::http::one_line(body, 120));
  if (const auto* error = o->if_contains("error"); error != nullptr && !error->is_null())
    throw Error("Centrifugo " + detail::describe_error(*error) + " from " + std::string(where));

  std::size_t failed = 0;
  std::string first;
  if (call.method == Method::publish) return;
  if (call.method == Method::broadcast) {
    const auto* result = o->if_contains("result");
    const auto* r = result != nullptr ? result->if_object() : nullptr;
    first = detail::broadcast_failures(r != nullptr ? r->if_contains("responses") : nullptr, topics,
                                       failed);
    if (failed != 0)
      throw Error("Centrifugo failed " + std::to_string(failed) + " of " +
                  std::to_string(topics.size()) + " channels of a broadcast; first: " + first);
    return;
  }
  // batch: one reply per command, in order.
  const auto* replies = o->if_contains("replies");
  const auto* list = replies != nullptr ? replies->if_array() : nullptr;
  if (list == nullptr || list->size() != n_messages)
    throw Error(
        "Centrifugo sent " +
        (list == nullptr ? std::string("no replies") : std::to_string(list->size()) + " replies") +
        " for " + std::to_string(n_messages) + " batch commands from " + std::string(where));
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* item = (*list)[i].if_object();
    if (item == nullptr) continue;
    std::string problem;
    std::size_t channel_failures = 0;
    if (const auto* error = item->if_contains("error"); error != nullptr && !error->is_null()) {
      problem = detail::describe_error(*error);
      channel_failures = 1;
    } else if (const auto* b = item->if_contains("broadcast"); b != nullptr && b->is_object()) {
      problem = detail::broadcast_failures(b->get_object().if_contains("responses"), topics,
                                           channel_failures);
    }
    if (channel_failures == 0) continue;
    ++failed;
    if (first.empty()) first = "message " + std::to_string(i + 1) + ": " + problem;
  }
  if (failed != 0)
    throw Error("Centrifugo failed " + std::to_string(failed) + " of " +
                std::to_string(n_messages) + " messages of a batch; first: " + first);
}

// ---- Subscribe proxy (the optional guard) ----

constexpr std::string_view kAllow = R"({"result":{}})";
constexpr std::string_view kDeny = R"({"error":{"code":403,"message":"permission denied"}})";
// The rules could not be evaluated (e.g. a webhook rule's app is down): Centrifugo may let the
// client retry.
constexpr std::string_view kDenyTemporary =
    R"({"error":{"code":403,"message":"permission denied","temporary":true}})";

// Answers one Centrifugo subscribe-proxy request (`{"channel":..,"user":..}`) with the host's
// topic rules: `{"result":{}}` when they allow the channel, Centrifugo's 403 error otherwise,
// always as an HTTP 200 JSON response (Centrifugo reads errors from the body).
inline void answer_subscribe_proxy(const herald::sdk::Host& host,
                                   const herald::sdk::Request& request,
                                   const herald::sdk::AuthResult& result) {
  auto respond = [&](int status, std::string_view body) {
    result.response(status, body);
    result.response_header("Content-Type", "application/json");
  };
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(request.body(), ec);
  const boost::json::object* o = ec ? nullptr : parsed.if_object();
  const boost::json::value* channel = o != nullptr ? o->if_contains("channel") : nullptr;
  if (channel == nullptr || !channel->is_string() || channel->get_string().empty()) {
    result.success(false);
    respond(
        400,
        R"({"error":{"code":400,"message":"expected a Centrifugo subscribe proxy request with a channel"}})");
    return;
  }
  const std::string_view topic = channel->get_string();
  result.add_topic(topic);
  herald::sdk::Host::TopicDecision decision;
  try {
    decision = host.authorize_topic(request, topic);
  } catch (const std::exception& e) {
    host.log(herald::sdk::LogLevel::warn,
             "subscribe proxy: topic rules failed for `" + std::string(topic) + "`: " + e.what());
    result.success(false);
    respond(200, kDenyTemporary);
    return;
  }
  if (!decision.allowed) {
    result.success(false);
    respond(200, kDeny);
    return;
  }
  boost::json::object attributes;
  for (const auto& [name, value] : decision.params) attributes[name] = value;
  if (const auto* user = o->if_contains("user"); user != nullptr && user->is_string())
    attributes["user"] = user->get_string();
  result.success(true);
  result.attributes(boost::json::serialize(attributes));
  respond(200, kAllow);
}

}  // namespace herald::centrifugo
