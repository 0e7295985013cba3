// A stand-in for Centrifugo's server HTTP API (v5/v6, protocols.md section 5) for tests and
// benchmarks, on TestHttpServer. It follows Centrifugo's own code (internal/api, internal/
// middleware, apiproto) for everything the centrifugo driver can send, and is stricter where a
// real server would silently ignore a mistake:
//
// - POST only (else 405, before auth, like middleware.Post); `X-API-Key: <key>`, or
//   `Authorization: apikey <key>` when X-API-Key is absent, or `?api_key=` (else 401, empty body).
// - Paths <prefix>/publish, /broadcast, /batch (else 404). The legacy `POST <prefix>` form is 404
//   here: the driver never uses it.
// - Bodies decoded like Go's encoding/json into the apiproto structs: not JSON, not an object, or
//   a known field of the wrong type -> plain HTTP 400 "Bad Request". Unknown fields: ignored by
//   Centrifugo, but 400 here unless `reject_unknown_fields = false` (catches misspelt options).
// - Semantic errors in an HTTP 200 body, as Centrifugo does: empty/missing channel(s) or missing
//   data -> {"error":{"code":107,"message":"bad request"}}; per channel in broadcasts, per
//   command in batches.
// - idempotency_key: a repeated (channel, key) succeeds without publishing again, as Centrifugo's
//   result cache does, so retried requests can be checked for duplicates.
//
// It can be told to fail a channel (code + message), fail whole calls, answer a raw HTTP status,
// or answer slowly, and it records every accepted publication in order.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "http_test.hpp"

namespace herald::testing_support {

class CentrifugoTestServer {
 public:
  struct Options {
    std::string api_key = "test-api-key";
    std::string prefix = "/api";
    bool reject_unknown_fields = true;
  };

  // One publication Centrifugo would have delivered.
  struct Publication {
    std::string method;  // "publish" | "broadcast" (also inside a batch)
    bool in_batch = false;
    std::string channel;
    boost::json::value data;
    bool skip_history = false;
    std::string idempotency_key;
    std::map<std::string, std::string> tags;
  };

  CentrifugoTestServer() : CentrifugoTestServer(Options{}) {}
  explicit CentrifugoTestServer(Options options)
      : options_(std::move(options)),
        server_([this](const TestRequest& request) { return handle(request); }) {}

  std::uint16_t port() const noexcept { return server_.port(); }
  std::string api_url() const { return server_.url() + options_.prefix; }
  const std::string& api_key() const noexcept { return options_.api_key; }

  // ---- Behaviour ----
  // Publications to `channel` fail with this Centrifugo error (HTTP 200 body).
  void fail_channel(const std::string& channel, int code, const std::string& message) {
    std::lock_guard lock(mutex_);
    channel_errors_[channel] = {code, message};
  }
  // Every call answers {"error":{code,message}} (HTTP 200) without publishing.
  void fail_calls(int code, const std::string& message) {
    std::lock_guard lock(mutex_);
    call_error_ = std::make_pair(code, message);
  }
  // Every call (after auth) answers this raw status and body without publishing; 0 = off.
  void answer_status(int status, std::string body = {}) {
    std::lock_guard lock(mutex_);
    raw_status_ = status;
    raw_body_ = std::move(body);
  }
  // The next `count` requests are processed at once but answered after `delay`.
  void delay_replies(std::chrono::milliseconds delay, int count = 1 << 30) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
    delayed_left_ = count;
  }
  void reset_behaviour() {
    std::lock_guard lock(mutex_);
    channel_errors_.clear();
    call_error_.reset();
    raw_status_ = 0;
    delay_ = std::chrono::milliseconds(0);
    delayed_left_ = 0;
  }

  // ---- What happened ----
  std::vector<Publication> publications() const {
    std::lock_guard lock(mutex_);
    return publications_;
  }
  std::vector<TestRequest> requests() const { return server_.requests(); }
  std::size_t request_count() const { return server_.request_count(); }
  std::size_t connection_count() const { return server_.connection_count(); }
  // (channel, data as compact JSON) of every publication, in order.
  std::vector<std::pair<std::string, std::string>> delivered() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : publications())
      out.emplace_back(p.channel, boost::json::serialize(p.data));
    return out;
  }

 private:
  struct ApiError {
    int code;
    std::string message;
  };
  struct BadRequest {};  // a decoding failure: plain HTTP 400

  static TestResponse plain(int status, std::string body = {}) {
    TestResponse r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = "text/plain; charset=utf-8";
    return r;
  }
  static std::string error_json(int code, std::string_view message) {
    boost::json::object e{{"code", code}, {"message", message}};
    return boost::json::serialize(boost::json::object{{"error", e}});
  }
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

  bool authorized(const TestRequest& request) const {
    const std::string key = request.header("X-API-Key");
    if (!key.empty()) {
      if (key == options_.api_key) return true;
    } else if (const std::string auth = request.header("Authorization"); !auth.empty()) {
      const auto space = auth.find(' ');
      if (space != std::string::npos && iequals(auth.substr(0, space), "apikey") &&
          auth.substr(space + 1) == options_.api_key)
        return true;
    }
    const auto q = request.target.find('?');
    if (q != std::string::npos) {
      const std::string query = "&" + request.target.substr(q + 1) + "&";
      if (query.find("&api_key=" + options_.api_key + "&") != std::string::npos) return true;
    }
    return false;
  }

  TestResponse handle(const TestRequest& request) {
    if (request.method != "POST") return plain(405);
    if (!authorized(request)) return plain(401);
    const std::string path = request.target.substr(0, request.target.find('?'));
    std::string method;
    if (path.rfind(options_.prefix + "/", 0) == 0) method = path.substr(options_.prefix.size() + 1);
    if (method != "publish" && method != "broadcast" && method != "batch")
      return plain(404, "404 page not found\n");

    std::lock_guard lock(mutex_);
    TestResponse response;
    if (delayed_left_ > 0) {
      --delayed_left_;
      response.delay = delay_;
    }
    boost::system::error_code ec;
    const boost::json::value body = boost::json::parse(request.body, ec);
    if (ec) return with_delay(plain(400, "Bad Request\n"), response.delay);
    if (raw_status_ != 0) return with_delay(plain(raw_status_, raw_body_), response.delay);
    try {
      response.body = method == "batch" ? batch(body) : single(method, body, false);
    } catch (const BadRequest&) {
      return with_delay(plain(400, "Bad Request\n"), response.delay);
    }
    return response;
  }

  static TestResponse with_delay(TestResponse r, std::chrono::milliseconds delay) {
    r.delay = delay;
    return r;
  }

  // Go's json.Unmarshal into a struct: null is a no-op, anything but an object fails.
  const boost::json::object* as_struct(const boost::json::value& v) const {
    if (v.is_null()) return nullptr;
    if (!v.is_object()) throw BadRequest{};
    return &v.get_object();
  }

  // A PublishRequest/BroadcastRequest: type-checked like encoding/json (keys matched
  // case-insensitively, as Go does). Returns the decoded fields.
  struct Decoded {
    std::string channel;
    std::vector<std::string> channels;
    std::optional<boost::json::value> data;
    std::string b64data;
    bool skip_history = false;
    std::string idempotency_key;
    std::map<std::string, std::string> tags;
  };
  Decoded decode(const boost::json::value& v, bool broadcast) const {
    Decoded d;
    const boost::json::object* o = as_struct(v);
    if (o == nullptr) return d;
    auto str = [](const boost::json::value& x, std::string& out) {
      if (x.is_null()) return;
      if (!x.is_string()) throw BadRequest{};
      out = std::string(x.get_string());
    };
    auto boolean = [](const boost::json::value& x, bool& out) {
      if (x.is_null()) return;
      if (!x.is_bool()) throw BadRequest{};
      out = x.get_bool();
    };
    for (const auto& [key, x] : *o) {
      if (!broadcast && iequals(key, "channel")) {
        str(x, d.channel);
      } else if (broadcast && iequals(key, "channels")) {
        if (x.is_null()) continue;
        if (!x.is_array()) throw BadRequest{};
        for (const auto& c : x.get_array()) {
          std::string s;
          str(c, s);
          d.channels.push_back(s);
        }
      } else if (iequals(key, "data")) {
        d.data = x;  // apiproto.Raw: any JSON value, kept as is
      } else if (iequals(key, "b64data")) {
        str(x, d.b64data);
      } else if (iequals(key, "skip_history")) {
        boolean(x, d.skip_history);
      } else if (iequals(key, "delta")) {
        bool ignored = false;
        boolean(x, ignored);
      } else if (iequals(key, "idempotency_key")) {
        str(x, d.idempotency_key);
      } else if (iequals(key, "version_epoch")) {
        std::string ignored;
        str(x, ignored);
      } else if (iequals(key, "version")) {
        if (!x.is_null() && !x.is_uint64() && !(x.is_int64() && x.get_int64() >= 0))
          throw BadRequest{};
      } else if (iequals(key, "tags")) {
        if (x.is_null()) continue;
        if (!x.is_object()) throw BadRequest{};
        for (const auto& [name, value] : x.get_object()) {
          std::string s;
          str(value, s);
          d.tags[std::string(name)] = s;
        }
      } else if (options_.reject_unknown_fields) {
        throw BadRequest{};
      }
    }
    return d;
  }

  // One channel's publication: nullopt on success, else Centrifugo's error.
  std::optional<ApiError> publish_one(const std::string& method, bool in_batch,
                                      const std::string& channel, const Decoded& d) {
    if (channel.empty()) return ApiError{107, "bad request"};
    if (auto it = channel_errors_.find(channel); it != channel_errors_.end()) return it->second;
    // Default publication_data_format: data is required (b64data would do as well).
    if (!d.data && d.b64data.empty()) return ApiError{107, "bad request"};
    if (!d.idempotency_key.empty() && !seen_keys_.insert({channel, d.idempotency_key}).second)
      return std::nullopt;  // Centrifugo returns the cached result and publishes nothing
    Publication p;
    p.method = method;
    p.in_batch = in_batch;
    p.channel = channel;
    p.data = d.data.value_or(boost::json::value(d.b64data));
    p.skip_history = d.skip_history;
    p.idempotency_key = d.idempotency_key;
    p.tags = d.tags;
    publications_.push_back(std::move(p));
    return std::nullopt;
  }

  // The reply object for a publish or broadcast command (without the outer envelope of a batch):
  // {"result":{...}} or {"error":{...}}.
  boost::json::object run(const std::string& method, const boost::json::value& request,
                          bool in_batch) {
    const bool broadcast = method == "broadcast";
    const Decoded d = decode(request, broadcast);
    if (call_error_)
      return boost::json::parse(error_json(call_error_->first, call_error_->second)).as_object();
    if (!broadcast) {
      if (auto e = publish_one(method, in_batch, d.channel, d))
        return boost::json::parse(error_json(e->code, e->message)).as_object();
      return boost::json::object{{"result", boost::json::object{}}};
    }
    if (d.channels.empty()) return boost::json::parse(error_json(107, "bad request")).as_object();
    boost::json::array responses;
    for (const std::string& channel : d.channels) {
      if (auto e = publish_one(method, in_batch, channel, d))
        responses.push_back(boost::json::parse(error_json(e->code, e->message)));
      else
        responses.push_back(boost::json::object{{"result", boost::json::object{}}});
    }
    return boost::json::object{{"result", boost::json::object{{"responses", responses}}}};
  }

  std::string single(const std::string& method, const boost::json::value& body, bool in_batch) {
    return boost::json::serialize(run(method, body, in_batch));
  }

  std::string batch(const boost::json::value& body) {
    const boost::json::object* o = as_struct(body);
    std::vector<const boost::json::value*> commands;
    if (o != nullptr) {
      for (const auto& [key, x] : *o) {
        if (iequals(key, "commands")) {
          if (x.is_null()) continue;
          if (!x.is_array()) throw BadRequest{};
          for (const auto& c : x.get_array()) commands.push_back(&c);
        } else if (iequals(key, "parallel")) {
          if (!x.is_null() && !x.is_bool()) throw BadRequest{};
        } else if (options_.reject_unknown_fields) {
          throw BadRequest{};
        }
      }
    }
    // Decode every command first: a type error anywhere fails the whole request with 400.
    struct Cmd {
      std::string method;
      const boost::json::value* request = nullptr;
      bool null = false;
    };
    std::vector<Cmd> decoded;
    for (const auto* c : commands) {
      Cmd cmd;
      cmd.null = c->is_null();
      if (const boost::json::object* fields = as_struct(*c)) {
        for (const auto& [key, x] : *fields) {
          if (iequals(key, "publish") || iequals(key, "broadcast")) {
            if (x.is_null()) continue;
            decode(x, iequals(key, "broadcast"));
            if (cmd.request == nullptr) {  // Centrifugo checks publish before broadcast
              cmd.method = iequals(key, "publish") ? "publish" : "broadcast";
              cmd.request = &x;
            }
          } else if (options_.reject_unknown_fields) {
            throw BadRequest{};
          }
        }
      }
      decoded.push_back(cmd);
    }
    boost::json::array replies;
    for (const Cmd& cmd : decoded) {
      if (cmd.request == nullptr) {  // a null command: 107; one of no known kind: 104
        replies.push_back(boost::json::parse(cmd.null ? error_json(107, "bad request")
                                                      : error_json(104, "not found")));
        continue;
      }
      boost::json::object reply = run(cmd.method, *cmd.request, true);
      if (auto* e = reply.if_contains("error"))
        replies.push_back(boost::json::object{{"error", *e}});
      else
        replies.push_back(boost::json::object{{cmd.method, reply["result"]}});
    }
    return boost::json::serialize(boost::json::object{{"replies", replies}});
  }

  Options options_;
  mutable std::mutex mutex_;
  std::map<std::string, ApiError> channel_errors_;
  std::optional<std::pair<int, std::string>> call_error_;
  int raw_status_ = 0;
  std::string raw_body_;
  std::chrono::milliseconds delay_{0};
  int delayed_left_ = 0;
  std::set<std::pair<std::string, std::string>> seen_keys_;
  std::vector<Publication> publications_;
  TestHttpServer server_;  // last: destroyed (threads joined) before the state it uses
};

}  // namespace herald::testing_support
