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
  return out.str();
}

}  // namespace herald
