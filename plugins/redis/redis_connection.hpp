// One blocking hiredis connection to Redis, and the small pool the driver publishes through.
//
// hiredis connects (TCP or unix socket, with a connect timeout), applies the read/write timeout
// (SO_RCVTIMEO/SO_SNDTIMEO) and parses replies. Commands are written by us with
// send(MSG_NOSIGNAL): hiredis writes with write(), which would raise SIGPIPE in the host when
// Redis goes away, and a plugin must not change the host's signal handling.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <herald/driver.hpp>

#include "redis/redis_settings.hpp"

struct redisContext;

namespace herald::redis {

// Replies to one pipelined call.
struct Outcome {
  size_t replies = 0;       // replies read
  size_t errors = 0;        // of which were Redis errors (-ERR ..., -NOPERM ...)
  std::string first_error;  // the first of them, one line
};

class Connection {
 public:
  Connection(const Settings& settings, herald::sdk::Host host, int connect_timeout_ms,
             int timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `wire` (`count` RESP commands) in one write and reads the `count` replies. Opens the
  // connection first when it is closed or Redis closed it while idle. Throws
  // herald::sdk::Error on a connection problem (the connection is then closed, and the next
  // call reconnects); Redis error replies are counted in the Outcome instead.
  Outcome run(std::string_view wire, size_t count);

  // Scratch space for the caller to encode commands into, kept between calls.
  std::string& buffer() noexcept { return buffer_; }

  bool is_open() const noexcept { return ctx_ != nullptr; }
  void close() noexcept;

 private:
  // Returns true when it had to (re)connect.
  bool ensure_open();
  void open();
  int send_all(std::string_view data, size_t& sent) const;  // 0 or errno
  // Reads one reply; throws Error on I/O problems. Returns the error text for -ERR replies.
  std::optional<std::string> read_reply();
  [[noreturn]] void fail_io(const std::string& doing, int error);
  std::string where() const { return "Redis at " + settings_.endpoint.address(); }

  const Settings& settings_;
  herald::sdk::Host host_;
  int connect_timeout_ms_;
  int timeout_ms_;
  redisContext* ctx_ = nullptr;
  bool lost_ = false;  // the last connection broke: say so when it comes back
  std::string buffer_;
};

// Up to `pool_size` connections, opened on demand, each used by one thread at a time. A caller
// that finds none idle and the pool full waits for one (every call is bounded by the timeouts).
class ConnectionPool {
 public:
  ConnectionPool(const Settings& settings, herald::sdk::Host host);

  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    ~Lease() { pool_.release(std::move(c_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection* operator->() const noexcept { return c_.get(); }

   private:
    ConnectionPool& pool_;
    std::unique_ptr<Connection> c_;
  };

  Lease acquire();

 private:
  void release(std::unique_ptr<Connection> c) noexcept;

  const Settings& settings_;
  herald::sdk::Host host_;
  std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int created_ = 0;
};

}  // namespace herald::redis
