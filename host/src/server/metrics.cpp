#include "server/metrics.hpp"

#include <mutex>
#include <sstream>

namespace herald {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// Label values are connection names from the config: escape what the format requires.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Metrics::Connection& Metrics::connection(std::string_view name) {
  {
    std::shared_lock lock(mutex_);
    auto it = connections_.find(name);
    if (it != connections_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto& slot = connections_[std::string(name)];
  if (!slot) slot = std::make_unique<Connection>();
  return *slot;
}

void Metrics::publish(std::string_view name, std::chrono::nanoseconds duration, bool ok,
                      std::size_t messages) {
  Connection& c = connection(name);
  c.publishes.fetch_add(1, kRelaxed);
  if (!ok) c.failures.fetch_add(1, kRelaxed);
  if (ok) c.messages.fetch_add(messages, kRelaxed);
  const double seconds = std::chrono::duration<double>(duration).count();
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      c.buckets[i].fetch_add(1, kRelaxed);  // rendered cumulatively
      break;
    }
  }
  c.count.fetch_add(1, kRelaxed);
  c.sum_ns.fetch_add(static_cast<std::uint64_t>(duration.count()), kRelaxed);
}

void Metrics::authorization(std::string_view decision) {
  if (decision == "allow")
    allow_.fetch_add(1, kRelaxed);
  else if (decision == "deny")
    deny_.fetch_add(1, kRelaxed);
  else
    response_.fetch_add(1, kRelaxed);
}

void Metrics::http_response(int status) {
  if (status >= 100 && status < static_cast<int>(http_.size())) http_[status].fetch_add(1, kRelaxed);
}

std::string Metrics::render() const {
  std::ostringstream out;
  out.precision(9);
  std::shared_lock lock(mutex_);
  out << "# HELP herald_publish_total Publish calls, by connection.\n"
         "# TYPE herald_publish_total counter\n";
  for (const auto& [name, c] : connections_)
    out << "herald_publish_total{connection=\"" << label(name) << "\"} " << c->publishes.load(kRelaxed) << "\n";
  out << "# HELP herald_publish_failures_total Publish calls that failed, by connection.\n"
         "# TYPE herald_publish_failures_total counter\n";
  for (const auto& [name, c] : connections_)
    out << "herald_publish_failures_total{connection=\"" << label(name) << "\"} " << c->failures.load(kRelaxed) << "\n";
  out << "# HELP herald_messages_published_total Messages published, by connection.\n"
         "# TYPE herald_messages_published_total counter\n";
  for (const auto& [name, c] : connections_)
    out << "herald_messages_published_total{connection=\"" << label(name) << "\"} " << c->messages.load(kRelaxed) << "\n";
  out << "# HELP herald_publish_duration_seconds Publish call latency, by connection.\n"
         "# TYPE herald_publish_duration_seconds histogram\n";
  for (const auto& [name, c] : connections_) {
    const std::string l = label(name);
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += c->buckets[i].load(kRelaxed);
      out << "herald_publish_duration_seconds_bucket{connection=\"" << l << "\",le=\"" << kLatencyBuckets[i] << "\"} " << cumulative << "\n";
    }
    out << "herald_publish_duration_seconds_bucket{connection=\"" << l << "\",le=\"+Inf\"} " << c->count.load(kRelaxed) << "\n";
    out << "herald_publish_duration_seconds_sum{connection=\"" << l << "\"} " << static_cast<double>(c->sum_ns.load(kRelaxed)) / 1e9 << "\n";
    out << "herald_publish_duration_seconds_count{connection=\"" << l << "\"} " << c->count.load(kRelaxed) << "\n";
  }
  lock.unlock();
  out << "# HELP herald_authorizations_total Decisions of the authorize endpoint.\n"
         "# TYPE herald_authorizations_total counter\n"
      << "herald_authorizations_total{decision=\"allow\"} " << allow_.load(kRelaxed) << "\n"
      << "herald_authorizations_total{decision=\"deny\"} " << deny_.load(kRelaxed) << "\n"
      << "herald_authorizations_total{decision=\"response\"} " << response_.load(kRelaxed) << "\n";
  out << "# HELP herald_http_requests_total HTTP responses sent, by status code.\n"
         "# TYPE herald_http_requests_total counter\n";
  for (size_t code = 0; code < http_.size(); ++code) {
    const std::uint64_t n = http_[code].load(kRelaxed);
    if (n != 0) out << "herald_http_requests_total{code=\"" << code << "\"} " << n << "\n";
  }
  static constexpr std::array<const char*, static_cast<std::size_t>(Shed::count_)> kShed = {
      "queue_full", "queue_timeout", "client_gone", "shutdown", "max_connections",
      "max_connections_per_ip", "rate_limited"};
  out << "# HELP herald_http_shed_total Requests answered 503 or dropped before a handler ran, "
         "and connections refused, by reason.\n"
         "# TYPE herald_http_shed_total counter\n";
  for (size_t i = 0; i < kShed.size(); ++i)
    out << "herald_http_shed_total{reason=\"" << kShed[i] << "\"} " << shed_[i].load(kRelaxed)
        << "\n";
  static constexpr std::array<const char*, 3> kLanes = {"publish", "authorize", "metrics"};
  out << "# HELP herald_http_queue_depth Requests waiting for a worker, by lane.\n"
         "# TYPE herald_http_queue_depth gauge\n";
  for (size_t i = 0; i < kLanes.size(); ++i)
    out << "herald_http_queue_depth{lane=\"" << kLanes[i] << "\"} " << queued_[i].load(kRelaxed)
        << "\n";
  out << "# HELP herald_http_tls_handshake_failures_total TLS handshakes that failed (plain "
         "HTTP on the HTTPS port, untrusted or broken clients, timeouts).\n"
         "# TYPE herald_http_tls_handshake_failures_total counter\n"
         "herald_http_tls_handshake_failures_total "
      << tls_handshake_failures_.load(kRelaxed) << "\n";
  return out.str();
}

void Metrics::queued(std::size_t lane, std::int64_t delta) {
  if (lane < queued_.size()) queued_[lane].fetch_add(delta, kRelaxed);
}

void Metrics::tls_handshake_failure() { tls_handshake_failures_.fetch_add(1, kRelaxed); }

void Metrics::shed(Shed reason) {
  shed_[static_cast<std::size_t>(reason)].fetch_add(1, kRelaxed);
}

}  // namespace herald
