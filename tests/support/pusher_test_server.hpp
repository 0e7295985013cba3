// A stand-in for the Pusher Channels REST API (protocols.md section 2) for tests and benchmarks,
// on TestHttpServer. It checks requests the way Soketi and Reverb do, with its own code (OpenSSL
// directly, not the driver's signing helpers):
//
// - POST /apps/<app_id>/events and /apps/<app_id>/batch_events only (else 404; other methods 405).
// - Authentication: `auth_key` must be the app key, `auth_version` 1.0, `auth_timestamp` within
//   600 s of now (Pusher's rule; Soketi/Reverb skip it), `body_md5` present for a non-empty body;
//   then `auth_signature` and `body_md5` are dropped, body_md5 is recomputed from the body, the
//   parameters are sorted and HMAC-SHA256("POST\n<path>\n<query>") is compared in constant time.
//   Any failure: 401 {"error":".."}.
// - Bodies: /events {"name","data","channels"|"channel"[,"socket_id","info"]}: name a 1..200 char
//   string, data a string, 1..100 valid channel names; /batch_events {"batch":[..]} with 1..10
//   events {"name","channel","data"[,"socket_id","info"]}. Wrong shapes or unknown fields: 400.
//   Event data over `max_data_bytes` (Pusher: 10 KB): 413.
// - Success: 200 {} (Pusher's and Reverb's reply).
//
// It records every accepted event (one per channel) in order, and can answer a raw status or
// answer slowly.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "http_test.hpp"

namespace herald::testing_support {

class PusherTestServer {
 public:
  struct Options {
    std::string app_id = "4242";
    std::string key = "test-app-key";
    std::string secret = "test-app-secret";
    std::size_t max_data_bytes = 10240;
    bool check_timestamp = true;
  };

  struct Event {
    std::string endpoint;  // "events" | "batch_events"
    std::string channel;
    std::string name;
    std::string data;
  };

  PusherTestServer() : PusherTestServer(Options{}) {}
  explicit PusherTestServer(Options options)
      : options_(std::move(options)),
        server_([this](const TestRequest& request) { return handle(request); }) {}

  std::uint16_t port() const noexcept { return server_.port(); }
  const Options& options() const noexcept { return options_; }

  // Every call (after authentication) answers this status and body, once `after` more calls
  // have been served normally; status 0 = off.
  void answer_status(int status, std::string body = {}, int after = 0) {
    std::lock_guard lock(mutex_);
    raw_status_ = status;
    raw_body_ = std::move(body);
    normal_left_ = after;
  }
  // The next `count` requests are processed at once but answered after `delay`.
  void delay_replies(std::chrono::milliseconds delay, int count = 1 << 30) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
    delayed_left_ = count;
  }

  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // "channel|name|data" for every delivered event, in order.
  std::vector<std::string> deliveries() const {
    std::vector<std::string> out;
    for (const Event& e : events()) out.push_back(e.channel + "|" + e.name + "|" + e.data);
    return out;
  }
  std::vector<TestRequest> requests() const { return server_.requests(); }
  std::size_t request_count() const { return server_.request_count(); }
  std::size_t connection_count() const { return server_.connection_count(); }
  // Replies other than 200, with their bodies, in order.
  std::vector<std::pair<int, std::string>> refusals() const {
    std::lock_guard lock(mutex_);
    return refusals_;
  }

  // ---- crypto, independent of the driver's code ----
  static std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
      out += kDigits[data[i] >> 4];
      out += kDigits[data[i] & 15];
    }
    return out;
  }
  static std::string md5(std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), out, &size, EVP_md5(), nullptr);
    return hex(out, size);
  }
  static std::string hmac(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
    return hex(out, size);
  }

 private:
  struct Refusal {
    int status;
    std::string message;
  };

  static std::string url_decode(std::string_view in) {
    auto hex_digit = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] == '%' && i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 &&
                 hex_digit(in[i + 2]) >= 0) {
        out += static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  }

  static TestResponse json_reply(int status, std::string_view error) {
    TestResponse r;
    r.status = status;
    r.body = error.empty() ? "{}" : boost::json::serialize(boost::json::object{{"error", error}});
    return r;
  }

  // Authentication as Soketi does it; "" when the request is signed by the app.
  std::string check_signature(const std::string& path, std::string_view query,
                              const std::string& body) const {
    std::vector<std::pair<std::string, std::string>> params;
    std::string signature;
    bool has_md5 = false;
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
      std::size_t end = query.find('&', start);
      if (end == std::string_view::npos) end = query.size();
      const std::string_view pair = query.substr(start, end - start);
      const auto eq = pair.find('=');
      std::string name = url_decode(pair.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
      for (const auto& p : params)
        if (p.first == name) return "parameter " + name + " given twice";
      if (name == "auth_signature") {
        signature = value;
      } else if (name == "body_md5") {
        has_md5 = true;  // recomputed below, never trusted
      } else {
        params.emplace_back(std::move(name), std::move(value));
      }
      start = end + 1;
    }
    auto param = [&](std::string_view name) -> const std::string* {
      for (const auto& p : params)
        if (p.first == name) return &p.second;
      return nullptr;
    };
    const std::string* key = param("auth_key");
    if (key == nullptr || *key != options_.key) return "unknown auth_key";
    const std::string* version = param("auth_version");
    if (version == nullptr || *version != "1.0") return "auth_version must be 1.0";
    const std::string* timestamp = param("auth_timestamp");
    if (timestamp == nullptr || timestamp->empty() ||
        timestamp->find_first_not_of("0123456789") != std::string::npos)
      return "auth_timestamp is missing or not a number";
    if (options_.check_timestamp) {
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      if (std::llabs(now - std::stoll(*timestamp)) > 600) return "timestamp expired";
    }
    if (!body.empty()) {
      if (!has_md5) return "body_md5 is required with a body";
      params.emplace_back("body_md5", md5(body));
    }
    std::sort(params.begin(), params.end());
    std::string sorted;
    for (const auto& [n, v] : params) sorted += (sorted.empty() ? "" : "&") + n + "=" + v;
    const std::string expected = hmac(options_.secret, "POST\n" + path + "\n" + sorted);
    if (signature.size() != expected.size() ||
        CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0)
      return "The auth signature is invalid.";
    return {};
  }

  static bool valid_channel(std::string_view c) {
    if (!c.empty() && c.front() == '#') c.remove_prefix(1);
    if (c.empty() || c.size() > 200) return false;
    return std::all_of(c.begin(), c.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) ||
             std::string_view("_-=@,.;").find(ch) != std::string_view::npos;
    });
  }

  // Checks one event object; fills `channels`. Returns a refusal or {0, ""}.
  Refusal check_event(const boost::json::value& v, bool batch, std::string& name, std::string& data,
                      std::vector<std::string>& channels) const {
    if (!v.is_object()) return {400, "an event must be an object"};
    bool has_name = false, has_data = false;
    for (const auto& [k, x] : v.get_object()) {
      if (k == "name") {
        if (!x.is_string() || x.get_string().empty() || x.get_string().size() > 200)
          return {400, "name must be a 1..200 character string"};
        name = std::string(x.get_string());
        has_name = true;
      } else if (k == "data") {
        if (!x.is_string()) return {400, "data must be a string"};
        data = std::string(x.get_string());
        has_data = true;
      } else if (k == "channel") {
        if (!x.is_string() || !valid_channel(x.get_string())) return {400, "invalid channel"};
        channels.emplace_back(x.get_string());
      } else if (k == "channels" && !batch) {
        if (!x.is_array()) return {400, "channels must be an array"};
        for (const auto& c : x.get_array()) {
          if (!c.is_string() || !valid_channel(c.get_string())) return {400, "invalid channel"};
          channels.emplace_back(c.get_string());
        }
      } else if (k == "socket_id" || k == "info") {
        if (!x.is_string()) return {400, std::string(k) + " must be a string"};
      } else {
        return {400, "unknown field " + std::string(k)};
      }
    }
    if (!has_name || !has_data) return {400, "name and data are required"};
    if (channels.empty()) return {400, "no channel"};
    if (channels.size() > 100) return {400, "more than 100 channels"};
    if (data.size() > options_.max_data_bytes)
      return {413, "The data content of this event exceeds the allowed maximum."};
    return {0, {}};
  }

  TestResponse handle(const TestRequest& request) {
    const auto q = request.target.find('?');
    const std::string path = request.target.substr(0, q);
    const std::string_view query = q == std::string::npos
                                       ? std::string_view()
                                       : std::string_view(request.target).substr(q + 1);
    const std::string apps = "/apps/" + options_.app_id + "/";
    const bool batch = path == apps + "batch_events";
    std::lock_guard lock(mutex_);
    auto refuse = [&](int status, const std::string& message) {
      refusals_.emplace_back(status, message);
      TestResponse r = json_reply(status, message);
      return r;
    };
    if (path != apps + "events" && !batch) return refuse(404, "not found");
    if (request.method != "POST") return refuse(405, "method not allowed");
    if (std::string why = check_signature(path, query, request.body); !why.empty())
      return refuse(401, why);
    TestResponse ok = json_reply(200, "");
    if (delayed_left_ > 0) {
      --delayed_left_;
      ok.delay = delay_;
    }
    if (raw_status_ != 0 && normal_left_ > 0) {
      --normal_left_;
    } else if (raw_status_ != 0) {
      TestResponse r;
      r.status = raw_status_;
      r.body = raw_body_;
      r.content_type = "text/plain";
      r.delay = ok.delay;
      return r;
    }
    boost::system::error_code ec;
    const boost::json::value body = boost::json::parse(request.body, ec);
    if (ec || !body.is_object()) return refuse(400, "the body must be a JSON object");
    std::vector<Event> accepted;
    if (!batch) {
      std::string name, data;
      std::vector<std::string> channels;
      const Refusal r = check_event(body, false, name, data, channels);
      if (r.status != 0) return refuse(r.status, r.message);
      for (auto& c : channels) accepted.push_back({"events", c, name, data});
    } else {
      const auto& o = body.get_object();
      const auto* list = o.if_contains("batch");
      if (o.size() != 1 || list == nullptr || !list->is_array() || list->get_array().empty())
        return refuse(400, "expected {\"batch\":[..]}");
      if (list->get_array().size() > 10) return refuse(400, "more than 10 events in a batch");
      for (const auto& e : list->get_array()) {
        std::string name, data;
        std::vector<std::string> channels;
        const Refusal r = check_event(e, true, name, data, channels);
        if (r.status != 0) return refuse(r.status, r.message);
        if (channels.size() != 1) return refuse(400, "a batch event has one channel");
        accepted.push_back({"batch_events", channels[0], name, data});
      }
    }
    events_.insert(events_.end(), accepted.begin(), accepted.end());
    return ok;
  }

  Options options_;
  mutable std::mutex mutex_;
  int raw_status_ = 0;
  int normal_left_ = 0;
  std::string raw_body_;
  std::chrono::milliseconds delay_{0};
  int delayed_left_ = 0;
  std::vector<Event> events_;
  std::vector<std::pair<int, std::string>> refusals_;
  TestHttpServer server_;  // last: destroyed (threads joined) before the state it uses
};

}  // namespace herald::testing_support
