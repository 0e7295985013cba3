// Token buckets per client address, in a bounded table: `rate` tokens a second, at most `rate`
// banked (a one-second burst). Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <string>
#include <unordered_map>

namespace herald {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate 0: unlimited. `max_addresses` bounds the table (memory) whatever the clients do.
  explicit RateLimiter(double rate, std::size_t max_addresses = 65536)
      : rate_(rate), max_addresses_(max_addresses) {}

  bool enabled() const noexcept { return rate_ > 0; }

  // Takes a token for `ip`; false when its bucket is empty.
  bool take(const std::string& ip, Clock::time_point now = Clock::now()) {
    if (!enabled()) return true;
    std::lock_guard lock(mutex_);
    Bucket& b = bucket(ip, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  // Whether `ip` has a token left, without taking one.
  bool has(const std::string& ip, Clock::time_point now = Clock::now()) {
    if (!enabled()) return true;
    std::lock_guard lock(mutex_);
    const auto it = buckets_.find(ip);
    if (it == buckets_.end()) return true;
    refill(it->second, now);
    return it->second.tokens >= 1;
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return buckets_.size();
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };

  void refill(Bucket& b, Clock::time_point now) const {
    const double seconds = std::chrono::duration<double>(now - b.at).count();
    if (seconds > 0) {
      b.tokens = std::min(rate_, b.tokens + seconds * rate_);
      b.at = now;
    }
  }

  Bucket& bucket(const std::string& ip, Clock::time_point now) {
    auto it = buckets_.find(ip);
    if (it != buckets_.end()) {
      refill(it->second, now);
      return it->second;
    }
    if (buckets_.size() >= max_addresses_) {
      // Full buckets carry no state: forget them. Still full (a flood from that many
      // addresses): start over rather than grow.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        refill(i->second, now);
        i = i->second.tokens >= rate_ ? buckets_.erase(i) : std::next(i);
      }
      if (buckets_.size() >= max_addresses_) buckets_.clear();
    }
    return buckets_.emplace(ip, Bucket{rate_, now}).first->second;
  }

  double rate_;
  std::size_t max_addresses_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace herald
