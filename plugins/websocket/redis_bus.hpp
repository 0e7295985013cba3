// The cluster bus of a `websocket` connection: one Redis pub/sub channel that every node
// publishes to and subscribes to. Two TCP connections to Redis on a thread of their own (so a
// slow or absent Redis never stalls the WebSocket event loops): one PUBLISHes, pipelined; one
// SUBSCRIBEs and hands every message to `on_message`. Either failing closes both, and the bus
// reconnects with backoff (100 ms doubling to 2 s) until it is up again; `on_up` runs after each
// (re)subscription, so the owner can resend its state.
//
// Messages published while the bus is down wait in a bounded queue (`queue_bytes`); beyond it they
// are dropped and counted. Thread-safe: `publish`, `problem` and `stats` may be called from any
// thread; `on_message`, `on_up` and `every` callbacks run on the bus thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <herald/driver.hpp>

#include "common/redis/redis_endpoint.hpp"

namespace herald::websocket {

class RedisBus {
 public:
  struct Options {
    redis::Endpoint endpoint;
    std::string channel;             // the Redis pub/sub channel
    std::size_t queue_bytes = 8u << 20;  // bounded backlog while Redis is away
    std::chrono::milliseconds connect_timeout{2000};
  };
  struct Callbacks {
    std::function<void(std::string_view)> on_message;  // each message on the channel
    std::function<void()> on_up;                       // subscribed (again)
  };
  struct Stats {
    std::uint64_t published = 0, received = 0, dropped = 0, reconnects = 0, errors = 0;
    bool up = false;
  };

  RedisBus(herald::sdk::Host host, Options options, Callbacks callbacks);
  ~RedisBus();  // closes the connections and joins the thread
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  // Starts the thread and the first connection attempt.
  void start();
  // Queues PUBLISH <channel> <payload>. `droppable` messages (state the owner resends on_up
  // anyway) are not kept while the bus is down.
  void publish(std::string_view payload, bool droppable = false);
  // Waits up to `timeout` for what is queued to be written (for a goodbye before shutdown).
  void drain(std::chrono::milliseconds timeout);
  // Runs `fn` on the bus thread every `period` until the bus is destroyed. Call before start().
  void every(std::chrono::milliseconds period, std::function<void()> fn);

  // Empty while up; otherwise what is wrong, one line, without credentials.
  std::string problem() const;
  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::websocket
