// Counters and histograms of `herald serve`, rendered in the Prometheus text format (0.0.4).
// Recording is lock-free on the hot path once a connection has been seen.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace herald {

class Metrics {
 public:
  // Upper bounds of the publish latency buckets, in seconds (+Inf is implicit).
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1.0};

  // One publish call on `connection` (the resolved name): its duration, outcome and size.
  void publish(std::string_view connection, std::chrono::nanoseconds duration, bool ok,
               std::size_t messages);
  // One decision of the authorize endpoint: "allow", "deny" or "response".
  void authorization(std::string_view decision);
  // One HTTP response sent.
  void http_response(int status);
  // Why a request or connection was refused or dropped before a handler ran.
  enum class Shed : std::size_t {
    queue_full, queue_timeout, client_gone, shutdown, max_connections, max_connections_per_ip,
    rate_limited, count_
  };
  void shed(Shed reason);
  // Requests waiting in a worker lane (0 publish, 1 authorize, 2 metrics): a gauge.
  void queued(std::size_t lane, std::int64_t delta);
  // A TLS handshake on the HTTPS port that failed.
  void tls_handshake_failure();

  std::string render() const;

 private:
  struct Connection {
    std::atomic<std::uint64_t> publishes{0}, failures{0}, messages{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  Connection& connection(std::string_view name);

  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<Connection>, std::less<>> connections_;
  std::atomic<std::uint64_t> allow_{0}, deny_{0}, response_{0};
  std::array<std::atomic<std::uint64_t>, 600> http_{};  // by status code
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Shed::count_)> shed_{};
  std::array<std::atomic<std::int64_t>, 3> queued_{};
  std::atomic<std::uint64_t> tls_handshake_failures_{0};
};

}  // namespace herald
