// PusherRest: the signed HTTP requests planned by pusher_rest.hpp, sent with the shared libcurl
// client (keep-alive pool, timeouts, bounded retries for transport errors only).
#include "common/pusher/pusher_rest.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace herald::pusher {

namespace http = herald::plugins::http;

PusherRest::PusherRest(const herald::sdk::Config& config)
    : PusherRest(read_rest_settings(config)) {}

PusherRest::PusherRest(RestSettings settings)
    : settings_(std::move(settings)),
      client_(std::make_unique<http::HttpClient>(settings_.client)) {}

PusherRest::~PusherRest() = default;

void PusherRest::publish(herald::sdk::Texts topics, herald::sdk::Texts messages) {
  const std::vector<RestRequest> requests = build_requests(topics, messages, settings_);
  std::size_t done = 0;
  // Said when a later request fails: the earlier ones were delivered.
  auto partial = [&] {
    return done == 0 ? std::string()
                     : " (" + std::to_string(done) + " of " + std::to_string(requests.size()) +
                           " requests had already been delivered)";
  };
  for (const RestRequest& r : requests) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string query = signed_query(settings_.credentials, "POST", r.path, r.body, now);
    const std::string url = settings_.base_url + r.path + "?" + query;
    http::Response response;
    try {
      response = client_->post(url, r.body);
    } catch (const http::TransportError& e) {
      set_problem(e.what());
      if (!settings_.unreachable_message.empty())
        throw herald::sdk::Error(settings_.unreachable_message + " (" + e.what() + ")" +
                                 partial());
      throw herald::sdk::Error(std::string("cannot reach the Pusher API: ") + e.what() + partial());
    }
    if (response.status < 200 || response.status >= 300) {
      const std::string where = "POST " + http::redact_url(url);
      const bool peer_problem =
          response.status == 401 || response.status == 403 || response.status >= 500;
      set_problem(peer_problem ? where + " answered HTTP " + std::to_string(response.status)
                               : std::string());
      std::string message =
          "the Pusher API answered HTTP " + std::to_string(response.status) + " to " + where;
      if (const std::string text = reply_message(response.body); !text.empty())
        message += ": " + text;
      if (response.status == 401 || response.status == 403)
        message += " (check `app_id`, `key` and `secret`)";
      // A peer may echo what it checked: never let the signature or the secret through.
      const auto sig = query.rfind("auth_signature=");
      http::scrub(message, {settings_.credentials.secret,
                            sig == std::string::npos ? std::string() : query.substr(sig + 15)});
      throw herald::sdk::Error(message + partial());
    }
    set_problem({});
    ++done;
  }
}

void PusherRest::health() {
  std::lock_guard lock(mutex_);
  if (!problem_.empty()) throw herald::sdk::Error(problem_);
}

void PusherRest::set_problem(std::string problem) {
  // The usual call (healthy, staying healthy) takes no lock: publish may run on many threads.
  if (problem.empty() && !has_problem_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mutex_);
  has_problem_.store(!problem.empty(), std::memory_order_release);
  problem_ = std::move(problem);
}

}  // namespace herald::pusher
