// Pusher webhooks (webhooks.hpp). One mutex guards the queues; the sender thread never holds it
// during a request, so the event methods (called from event loops, under the server's registry
// lock) only ever wait for another enqueue or for the sender taking a batch.
#include "websocket/webhooks.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "common/http_client.hpp"
#include "common/prometheus_family.hpp"

namespace herald::websocket {

namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using herald::sdk::LogLevel;
namespace httpc = herald::plugins::http;

// Appends `"key":"value"`; false when `value` is not valid UTF-8.
bool field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  return httpc::append_json_string(out, value);
}

std::string start(std::string_view name) {
  std::string out = "{\"name\":";
  httpc::append_json_string(out, name);
  return out;
}

}  // namespace

namespace webhook_format {

std::string channel_event(std::string_view name, std::string_view channel) {
  std::string out = start(name);
  if (!field(out, "channel", channel)) return {};
  out += '}';
  return out;
}

std::string member_event(std::string_view name, std::string_view channel,
                         std::string_view user_id) {
  std::string out = start(name);
  if (!field(out, "channel", channel) || !field(out, "user_id", user_id)) return {};
  out += '}';
  return out;
}

std::string client_event(std::string_view channel, std::string_view event, std::string_view data,
                         std::string_view socket_id, std::string_view user_id) {
  std::string out = start("client_event");
  out.reserve(out.size() + channel.size() + event.size() + data.size() + data.size() / 8 + 64);
  if (!field(out, "channel", channel) || !field(out, "event", event) ||
      !field(out, "data", data) || !field(out, "socket_id", socket_id))
    return {};
  if (!user_id.empty() && !field(out, "user_id", user_id)) return {};
  out += '}';
  return out;
}

std::string body(std::int64_t time_ms, const std::vector<std::string>& events) {
  std::size_t size = 40;
  for (const auto& e : events) size += e.size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"time_ms\":";
  out += std::to_string(time_ms);
  out += ",\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i != 0) out += ',';
    out += events[i];
  }
  out += "]}";
  return out;
}

std::string signature(std::string_view secret, std::string_view body) {
  return pusher::hmac_sha256_hex(secret, body);
}

}  // namespace webhook_format

// ---------------------------------------------------------------------------------------------

struct Webhooks::Impl {
  struct Target {
    WebhookTarget config;
    std::string shown_url;  // redact_url(): no user info, query or fragment
    // Guarded by `mutex`:
    std::deque<std::shared_ptr<const std::string>> queue;
    Clock::time_point first_pending{};  // when the oldest queued event arrived
    // The batch being sent or waiting to be retried; only the sender thread touches these.
    std::string body;
    std::size_t body_events = 0;
    int attempts = 0;
    Clock::time_point next_attempt{}, give_up_at{};
    std::string last_problem;
  };

  Impl(const Settings& s, pusher::Credentials c, herald::sdk::Host h)
      : host(h), connection(s.connection), options(s.webhooks), credentials(std::move(c)) {
    for (const auto& t : options.targets) {
      targets.push_back(std::make_unique<Target>());
      targets.back()->config = t;
      targets.back()->shown_url = httpc::redact_url(t.url);
      wanted |= t.events;
    }
  }

  herald::sdk::Host host;
  std::string connection;
  WebhookSettings options;
  pusher::Credentials credentials;
  unsigned wanted = 0;  // union of the targets' filters
  std::vector<std::unique_ptr<Target>> targets;

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;                  // under `mutex`
  std::atomic<bool> stopping_flag{false};  // the same, for settle() (set after stop_deadline)
  Clock::time_point stop_deadline{};
  std::size_t queued_bytes = 0;  // over every target's queue
  std::thread sender;

  std::atomic<std::uint64_t> events{0}, sent{0}, failed{0}, dropped{0};
  std::atomic<std::uint64_t> dropped_unlogged{0}, failed_unlogged{0};
  std::atomic<Clock::rep> last_drop_log{0}, last_fail_log{0};

  void log(LogLevel level, const std::string& message) const {
    if (host.raw() != nullptr && host.log_enabled(level)) host.log(level, message);
  }
  bool log_enabled(LogLevel level) const {
    return host.raw() != nullptr && host.log_enabled(level);
  }

  // True for one caller per kWarnIntervalS (the first call always).
  static bool due(std::atomic<Clock::rep>& last) {
    const Clock::rep now = Clock::now().time_since_epoch().count();
    const Clock::rep interval =
        std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(kWarnIntervalS)).count();
    Clock::rep prev = last.load(std::memory_order_relaxed);
    if (prev != 0 && now - prev < interval) return false;
    return last.compare_exchange_strong(prev, now, std::memory_order_relaxed);
  }

  bool wants(WebhookEvent kind) const { return (wanted & static_cast<unsigned>(kind)) != 0; }

  void enqueue(WebhookEvent kind, std::string json) {
    if (json.empty()) return;  // not valid UTF-8: nothing a receiver could parse
    auto event = std::make_shared<const std::string>(std::move(json));
    std::uint64_t lost = 0;
    bool notify = false;
    std::string full_url;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      const Clock::time_point now = Clock::now();
      for (auto& t : targets) {
        if ((t->config.events & static_cast<unsigned>(kind)) == 0) continue;
        if (t->queue.size() >= options.queue || queued_bytes + event->size() > kQueueBytes) {
          ++lost;
          if (full_url.empty()) full_url = t->shown_url;
          continue;
        }
        if (t->queue.empty()) {
          t->first_pending = now;
          notify = true;
        } else if (t->queue.size() + 1 == kBatchEvents) {
          notify = true;  // a full batch need not wait for the linger
        }
        t->queue.push_back(event);
        queued_bytes += event->size();
        events.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (notify) wake.notify_one();
    if (lost == 0) return;
    dropped.fetch_add(lost, std::memory_order_relaxed);
    dropped_unlogged.fetch_add(lost, std::memory_order_relaxed);
    if (due(last_drop_log))
      log(LogLevel::warn, "webhooks: the queue for " + full_url + " is full (webhook_queue = " +
                              std::to_string(options.queue) + "); dropped " +
                              std::to_string(dropped_unlogged.exchange(0)) +
                              " event(s) since the last warning");
  }

  // Moves up to kBatchEvents queued events of `t` into its batch body. Under `mutex`.
  void take_batch(Target& t, Clock::time_point now) {
    std::vector<std::string> items;
    std::size_t bytes = 0;
    while (!t.queue.empty() && items.size() < kBatchEvents && bytes < kBatchBytes) {
      const auto& e = t.queue.front();
      bytes += e->size();
      queued_bytes -= e->size();
      items.push_back(*e);
      t.queue.pop_front();
    }
    if (!t.queue.empty()) t.first_pending = now;
    const auto time_ms = std::chrono::duration_cast<Millis>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    t.body = webhook_format::body(static_cast<std::int64_t>(time_ms), items);
    t.body_events = items.size();
    t.attempts = 0;
    t.next_attempt = now;
    t.give_up_at = now + std::chrono::seconds(options.retry_s);
    t.last_problem.clear();
  }

  // One POST of `t`'s batch; true on a 2xx. Without `mutex`.
  bool attempt(Target& t, Millis timeout) {
    httpc::ClientOptions o;
    o.timeout = timeout;
    o.connect_timeout = std::min(timeout, Millis(2000));
    o.retries = 0;  // the retries are ours, with their own budget
    o.pool_size = 1;
    o.max_response_bytes = 64 * 1024;
    o.headers = {"Content-Type: application/json", "X-Pusher-Key: " + credentials.key,
                 "X-Pusher-Signature: " + webhook_format::signature(credentials.secret, t.body)};
    o.redact = {credentials.secret};
    o.user_agent = "herald-webhooks";
    try {
      // A client per request: the signature header differs for every body.
      const httpc::HttpClient client(std::move(o));
      const httpc::Response r = client.post(t.config.url, t.body);
      if (r.status >= 200 && r.status < 300) return true;
      t.last_problem = "HTTP " + std::to_string(r.status);
    } catch (const std::exception& e) {
      t.last_problem = httpc::one_line(e.what());
      httpc::scrub(t.last_problem, {credentials.secret});
    }
    return false;
  }

  // After an attempt: counts, logs, schedules the retry or forgets the batch. Sender thread,
  // without `mutex` (the batch fields are the sender's alone; logging must not hold up the
  // event loops that enqueue).
  void settle(Target& t, bool ok, Clock::time_point now) {
    ++t.attempts;
    if (ok) {
      sent.fetch_add(1, std::memory_order_relaxed);
      if (log_enabled(LogLevel::debug))
        log(LogLevel::debug, "webhooks: delivered " + std::to_string(t.body_events) +
                                 " event(s) to " + t.shown_url);
      forget(t);
      return;
    }
    if (log_enabled(LogLevel::debug))
      log(LogLevel::debug, "webhooks: " + t.shown_url + ": " + t.last_problem + " (attempt " +
                               std::to_string(t.attempts) + ")");
    const Millis delay = httpc::backoff_delay(t.attempts, Millis(250), Millis(30000));
    const Clock::time_point deadline = stopping_flag.load(std::memory_order_acquire)
                                           ? std::min(t.give_up_at, stop_deadline)
                                           : t.give_up_at;
    if (now + delay < deadline) {
      t.next_attempt = now + delay;
      return;
    }
    failed.fetch_add(1, std::memory_order_relaxed);
    failed_unlogged.fetch_add(1, std::memory_order_relaxed);
    if (due(last_fail_log))
      log(LogLevel::warn, "webhooks: gave up a batch of " + std::to_string(t.body_events) +
                              " event(s) to " + t.shown_url + " after " +
                              std::to_string(t.attempts) + " attempt(s): " + t.last_problem +
                              " (" + std::to_string(failed_unlogged.exchange(0)) +
                              " batch(es) given up since the last warning)");
    forget(t);
  }

  static void forget(Target& t) {
    t.body.clear();
    t.body_events = 0;
    t.attempts = 0;
  }

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      const Clock::time_point now = Clock::now();
      if (stopping && now >= stop_deadline) break;
      Target* ready = nullptr;
      Clock::time_point next = Clock::time_point::max();
      for (auto& tp : targets) {
        Target& t = *tp;
        Clock::time_point due_at;
        if (t.body_events != 0)  // waiting for its retry; one past the stop deadline: now
          due_at = stopping && t.next_attempt >= stop_deadline ? now : t.next_attempt;
        else if (!t.queue.empty())
          due_at = stopping || t.queue.size() >= kBatchEvents
                       ? now
                       : t.first_pending + Millis(kLingerMs);
        else
          continue;
        if (due_at <= now) {
          ready = &t;
          break;
        }
        next = std::min(next, due_at);
      }
      if (ready == nullptr) {
        if (stopping && next == Clock::time_point::max()) break;  // all sent
        if (stopping) next = std::min(next, stop_deadline);
        if (next == Clock::time_point::max())
          wake.wait(lock);
        else
          wake.wait_until(lock, next);
        continue;
      }
      Target& t = *ready;
      if (t.body_events == 0) take_batch(t, now);
      Millis timeout(options.timeout_ms);
      if (stopping)
        timeout = std::clamp(std::chrono::duration_cast<Millis>(stop_deadline - now), Millis(100),
                             timeout);
      lock.unlock();
      settle(t, attempt(t, timeout), Clock::now());
      lock.lock();
      // Round robin: the target just served goes last, so one slow target cannot starve others.
      auto it = std::find_if(targets.begin(), targets.end(),
                             [&](const auto& p) { return p.get() == &t; });
      std::rotate(it, it + 1, targets.end());
    }
    // Out of time while stopping: what is left is lost (counted as given up / dropped).
    std::size_t left = 0;
    for (auto& t : targets) {
      if (t->body_events != 0) {
        left += t->body_events;
        failed.fetch_add(1, std::memory_order_relaxed);
      }
      left += t->queue.size();
      dropped.fetch_add(t->queue.size(), std::memory_order_relaxed);
      t->queue.clear();
      forget(*t);
    }
    queued_bytes = 0;
    lock.unlock();
    if (left != 0)
      log(LogLevel::warn, "webhooks: shutting down with " + std::to_string(left) +
                              " event(s) not delivered");
  }
};

Webhooks::Webhooks(const Settings& settings, pusher::Credentials credentials,
                   herald::sdk::Host host)
    : impl_(std::make_unique<Impl>(settings, std::move(credentials), host)) {
  std::string urls;
  for (const auto& t : impl_->targets) urls += (urls.empty() ? "" : ", ") + t->shown_url;
  impl_->log(LogLevel::info, "webhooks: sending to " + urls);
  impl_->sender = std::thread([impl = impl_.get()] { impl->run(); });
}

Webhooks::~Webhooks() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop_deadline = Clock::now() + Millis(kShutdownGraceMs);
    impl_->stopping = true;
    impl_->stopping_flag.store(true, std::memory_order_release);
  }
  impl_->wake.notify_all();
  if (impl_->sender.joinable()) impl_->sender.join();
}

void Webhooks::channel_occupied(std::string_view channel) {
  if (impl_->wants(WebhookEvent::channel_occupied))
    impl_->enqueue(WebhookEvent::channel_occupied,
                   webhook_format::channel_event("channel_occupied", channel));
}

void Webhooks::channel_vacated(std::string_view channel) {
  if (impl_->wants(WebhookEvent::channel_vacated))
    impl_->enqueue(WebhookEvent::channel_vacated,
                   webhook_format::channel_event("channel_vacated", channel));
}

void Webhooks::member_added(std::string_view channel, std::string_view user_id) {
  if (impl_->wants(WebhookEvent::member_added))
    impl_->enqueue(WebhookEvent::member_added,
                   webhook_format::member_event("member_added", channel, user_id));
}

void Webhooks::member_removed(std::string_view channel, std::string_view user_id) {
  if (impl_->wants(WebhookEvent::member_removed))
    impl_->enqueue(WebhookEvent::member_removed,
                   webhook_format::member_event("member_removed", channel, user_id));
}

void Webhooks::client_event(std::string_view channel, std::string_view event,
                            std::string_view data, std::string_view socket_id,
                            std::string_view user_id) {
  if (impl_->wants(WebhookEvent::client_event))
    impl_->enqueue(WebhookEvent::client_event,
                   webhook_format::client_event(channel, event, data, socket_id, user_id));
}

Webhooks::Stats Webhooks::stats() const {
  Stats s;
  s.events = impl_->events.load(std::memory_order_relaxed);
  s.sent = impl_->sent.load(std::memory_order_relaxed);
  s.failed = impl_->failed.load(std::memory_order_relaxed);
  s.dropped = impl_->dropped.load(std::memory_order_relaxed);
  return s;
}

std::string Webhooks::metrics_text() const {
  const Stats s = stats();
  const std::string label = "{connection=\"" + impl_->connection + "\"}";
  std::string out;
  auto family = [&](std::string_view name, std::string_view help, std::uint64_t value) {
    plugins::append_family(out, name, "counter", help, label, value);
  };
  family("herald_ws_webhook_events_total", "Webhook events queued (once per target).", s.events);
  family("herald_ws_webhook_sent_total", "Webhook batches delivered (answered 2xx).", s.sent);
  family("herald_ws_webhook_failed_total",
         "Webhook batches given up after retrying for webhook_retry_s.", s.failed);
  family("herald_ws_webhook_dropped_total",
         "Webhook events dropped because a target's queue was full.", s.dropped);
  return out;
}

}  // namespace herald::websocket
