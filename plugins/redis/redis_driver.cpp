// The `redis` driver: PUBLISH every message to every topic, as the message itself (format =
// "raw") or as Laravel's broadcast JSON that laravel-echo-server reads (format = "laravel").
// Settings and behaviour: plugins/redis/README.md.
//
// Thread safety: publish() may run on several host threads at once. Each call leases one
// connection of a small pool (pool_size, opened on demand) for its single pipelined round trip,
// so concurrent callers overlap their round trips instead of queueing behind one mutex-guarded
// socket, and a slow call never blocks the others beyond the pool size. health() uses its own
// connection behind its own mutex so /healthz never waits for publishers.
#include <algorithm>
#include <mutex>
#include <string>

#include <herald/driver.hpp>

#include "redis/redis_connection.hpp"
#include "redis/redis_settings.hpp"
#include "redis/redis_wire.hpp"

namespace {

using herald::sdk::Config;
using herald::sdk::Error;
using herald::sdk::Host;
using herald::sdk::Texts;
namespace redis = herald::redis;

// /healthz must answer fast even when Redis is a black hole.
constexpr int kHealthTimeoutMs = 1000;

class RedisDriver final : public herald::sdk::Broadcast, public herald::sdk::HealthCheck {
 public:
  RedisDriver(const Host& host, const Config& config)
      : settings_(redis::read_settings(config)),
        pool_(settings_, host),
        health_(settings_, host, std::min(settings_.connect_timeout_ms, kHealthTimeoutMs),
                std::min(settings_.timeout_ms, kHealthTimeoutMs)) {}

  static void validate(const Config& config) { redis::read_settings(config); }

  void publish(Texts topics, Texts messages) override {
    if (messages.empty()) return;
    const redis::Payloads payloads(settings_.format, settings_.event, messages);
    auto connection = pool_.acquire();
    std::string& wire = connection->buffer();
    wire.clear();
    const size_t count = redis::append_publishes(wire, settings_.prefix, topics, payloads.views());
    const redis::Outcome outcome = connection->run(wire, count);
    if (wire.capacity() > kKeepBuffer) std::string().swap(wire);  // do not pin a huge batch
    if (outcome.errors == 0) return;
    std::string message =
        "Redis at " + settings_.endpoint.address() + " refused PUBLISH: " + outcome.first_error;
    if (count > 1)
      message += " (" + std::to_string(outcome.errors) + " of " + std::to_string(count) +
                 " commands failed)";
    throw Error(message);
  }

  void health() override {
    std::lock_guard lock(health_mutex_);
    static constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
    const redis::Outcome outcome = health_.run(kPing, 1);
    if (outcome.errors != 0)
      throw Error("Redis at " + settings_.endpoint.address() +
                  " refused PING: " + outcome.first_error);
  }

 private:
  static constexpr size_t kKeepBuffer = 1 << 20;

  const redis::Settings settings_;
  redis::ConnectionPool pool_;
  std::mutex health_mutex_;
  redis::Connection health_;
};

}  // namespace

HERALD_DRIVER(RedisDriver, "redis", "1.0.0",
              "PUBLISH to Redis, raw or in Laravel's broadcast format (laravel-echo-server)")
