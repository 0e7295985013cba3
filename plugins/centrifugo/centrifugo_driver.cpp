// The `centrifugo` driver: publishes through Centrifugo's server HTTP API, one HTTP request per
// `publish` call (/publish, /broadcast or /batch), and optionally answers Centrifugo's subscribe
// proxy with the host's topic rules. Settings and wire details: README.md.
#include <herald/driver.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <utility>

#include "centrifugo/centrifugo_api.hpp"
#include "common/http_client.hpp"

namespace {

using herald::sdk::Config;
using herald::sdk::Host;
using herald::sdk::Texts;
namespace http = herald::plugins::http;
namespace api = herald::centrifugo;

class CentrifugoDriver final : public herald::sdk::Broadcast,
                               public herald::sdk::Guard,
                               public herald::sdk::HealthCheck {
 public:
  CentrifugoDriver(const Host& host, const Config& config)
      : host_(host), settings_(api::read_settings(config)), client_(settings_.client) {
    for (api::Method m : {api::Method::publish, api::Method::broadcast, api::Method::batch}) {
      urls_[index(m)] = settings_.url + std::string(api::method_path(m));
      where_[index(m)] = "POST " + http::redact_url(urls_[index(m)]);
    }
  }

  static void validate(const Config& config) { api::read_settings(config); }

  void publish(Texts topics, Texts messages) override {
    if (messages.empty()) return;
    const api::ApiCall call =
        api::build_call(topics, messages, settings_,
                        settings_.idempotency_keys ? api::random_key_prefix() : std::string());
    http::Response response;
    try {
      response = client_.post(urls_[index(call.method)], call.body);
    } catch (const http::TransportError& e) {
      set_problem(e.what());
      throw herald::sdk::Error(std::string("cannot reach Centrifugo: ") + e.what());
    }
    // The peer answered: healthy unless it refused the key or failed as a server.
    if (response.status == 401 || response.status >= 500)
      set_problem(where_[index(call.method)] + " answered HTTP " + std::to_string(response.status));
    else
      set_problem({});
    api::check_reply(call, topics, messages.size(), response.status, response.body,
                     where_[index(call.method)]);
  }

  // Not a guard unless `subscribe_proxy = true`: then it answers like Spiral's non-guard
  // (success, no response), so the host's authorize endpoint replies 200.
  void authorize(const herald::sdk::Request& request,
                 const herald::sdk::AuthResult& result) override {
    if (!settings_.subscribe_proxy) {
      result.success(true);
      return;
    }
    api::answer_subscribe_proxy(host_, request, result);
  }

  // The outcome of the last request: cheap, and never publishes.
  void health() override {
    std::lock_guard lock(mutex_);
    if (!problem_.empty()) throw herald::sdk::Error(problem_);
  }

 private:
  static std::size_t index(api::Method m) { return static_cast<std::size_t>(m); }

  void set_problem(std::string problem) {
    // The usual call (healthy, staying healthy) takes no lock: publish may run on many threads.
    if (problem.empty() && !has_problem_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(mutex_);
    has_problem_.store(!problem.empty(), std::memory_order_release);
    problem_ = std::move(problem);
  }

  Host host_;
  api::Settings settings_;
  http::HttpClient client_;
  std::string urls_[3];
  std::string where_[3];
  std::mutex mutex_;
  std::string problem_;
  std::atomic<bool> has_problem_{false};
};

}  // namespace

HERALD_DRIVER(CentrifugoDriver, "centrifugo", "1.0.0",
              "Publishes through Centrifugo's server HTTP API; optional subscribe-proxy guard")
