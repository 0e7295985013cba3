#include "redis/redis_connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <hiredis/hiredis.h>

#include "redis/redis_wire.hpp"

namespace herald::redis {
namespace {

using herald::sdk::Error;
using herald::sdk::LogLevel;

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>(ms % 1000) * 1000;
  return tv;
}

// Redis errors are one line already; make sure of it, and keep them short.
std::string one_line(std::string_view text) {
  std::string out(text.substr(0, 300));
  for (char& c : out)
    if (c == '\r' || c == '\n') c = ' ';
  return out;
}

bool is_timeout(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

std::string encode(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) append_bulk(out, a);
  return out;
}

}  // namespace

Connection::Connection(const Settings& settings, herald::sdk::Host host, int connect_timeout_ms,
                       int timeout_ms)
    : settings_(settings),
      host_(host),
      connect_timeout_ms_(connect_timeout_ms),
      timeout_ms_(timeout_ms) {}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

void Connection::fail_io(const std::string& doing, int error) {
  close();
  lost_ = true;
  if (is_timeout(error))
    throw Error(where() + " did not answer within " + std::to_string(timeout_ms_) + " ms (" +
                doing + ")");
  throw Error("lost the connection to " + where() + " (" + doing +
              "): " + (error != 0 ? std::strerror(error) : "connection closed by Redis"));
}

int Connection::send_all(std::string_view data, size_t& sent) const {
  while (sent < data.size()) {
    const ssize_t n = ::send(ctx_->fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 ? errno : EPIPE;
    }
  }
  return 0;
}

std::optional<std::string> Connection::read_reply() {
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
    const int error = errno;
    if (ctx_->err == REDIS_ERR_EOF) fail_io("reading the reply", 0);
    if (ctx_->err == REDIS_ERR_IO) fail_io("reading the reply", error != 0 ? error : EIO);
    const std::string why = one_line(ctx_->errstr);
    close();
    lost_ = true;
    throw Error("bad reply from " + where() + ": " + why);
  }
  auto* reply = static_cast<redisReply*>(raw);
  std::optional<std::string> error;
  if (reply->type == REDIS_REPLY_ERROR) error = one_line(std::string_view(reply->str, reply->len));
  freeReplyObject(reply);
  return error;
}

void Connection::open() {
  close();
  const Endpoint& e = settings_.endpoint;
  const timeval connect_tv = to_timeval(connect_timeout_ms_);
  redisContext* c = e.unix_socket ? redisConnectUnixWithTimeout(e.path.c_str(), connect_tv)
                                  : redisConnectWithTimeout(e.host.c_str(), e.port, connect_tv);
  if (c == nullptr) throw Error("cannot connect to " + where() + ": out of memory");
  if (c->err != 0) {
    std::string why = one_line(c->errstr);
    redisFree(c);
    // hiredis words a connect timeout as the errno text of EINPROGRESS or ETIMEDOUT.
    if (why == std::strerror(EINPROGRESS) || why == std::strerror(ETIMEDOUT))
      why = "no connection within " + std::to_string(connect_timeout_ms_) + " ms";
    throw Error("cannot connect to " + where() + ": " + why);
  }
  if (redisSetTimeout(c, to_timeval(timeout_ms_)) != REDIS_OK) {
    const std::string why = one_line(c->errstr);
    redisFree(c);
    throw Error("cannot connect to " + where() + ": " + why);
  }
  ctx_ = c;

  // AUTH and SELECT in one round trip. The password is only ever sent, never shown.
  std::string hello;
  size_t count = 0;
  if (!e.password.empty()) {
    hello += e.username.empty() ? encode({"AUTH", e.password})
                                : encode({"AUTH", e.username, e.password});
    ++count;
  }
  if (e.db != 0) {
    hello += encode({"SELECT", std::to_string(e.db)});
    ++count;
  }
  if (count == 0) return;
  size_t sent = 0;
  if (const int error = send_all(hello, sent); error != 0) fail_io("logging in", error);
  std::optional<std::string> auth_error, select_error;
  if (!e.password.empty()) auth_error = read_reply();
  if (e.db != 0) select_error = read_reply();
  if (auth_error || select_error) {
    close();
    if (auth_error) throw Error(where() + " refused AUTH: " + *auth_error);
    throw Error(where() + " refused SELECT " + std::to_string(e.db) + ": " + *select_error);
  }
}

bool Connection::ensure_open() {
  if (ctx_ != nullptr && ctx_->err == 0) {
    // Nothing is due from Redis on an idle connection: readable means it closed the
    // connection (restart, `timeout`, CLIENT KILL), so reconnect before sending.
    pollfd p{ctx_->fd, POLLIN, 0};
    int ready = 0;
    do ready = ::poll(&p, 1, 0);
    while (ready < 0 && errno == EINTR);
    if (ready == 0) return false;
    close();
    lost_ = true;
  }
  open();
  if (lost_ && host_.log_enabled(LogLevel::info))
    host_.log(LogLevel::info, "reconnected to " + settings_.endpoint.masked_url());
  else if (host_.log_enabled(LogLevel::debug))
    host_.log(LogLevel::debug, "connected to " + settings_.endpoint.masked_url());
  lost_ = false;
  return true;
}

Outcome Connection::run(std::string_view wire, size_t count) {
  const bool fresh = ensure_open();
  size_t sent = 0;
  int error = send_all(wire, sent);
  if (error != 0 && !fresh && sent == 0 && (error == EPIPE || error == ECONNRESET)) {
    // Redis went away after the idle check and took none of it: one clean retry.
    close();
    lost_ = true;
    ensure_open();
    error = send_all(wire, sent);
  }
  if (error != 0) fail_io("sending " + std::to_string(count) + " PUBLISH", error);
  Outcome out;
  for (; out.replies < count; ++out.replies) {
    if (auto reply_error = read_reply()) {
      if (out.errors++ == 0) out.first_error = std::move(*reply_error);
    }
  }
  return out;
}

ConnectionPool::ConnectionPool(const Settings& settings, herald::sdk::Host host)
    : settings_(settings), host_(host) {
  idle_.reserve(static_cast<size_t>(settings.pool_size));  // release() never allocates
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return !idle_.empty() || created_ < settings_.pool_size; });
  if (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(c));
  }
  ++created_;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Connection>(settings_, host_, settings_.connect_timeout_ms,
                                                     settings_.timeout_ms));
  } catch (...) {
    lock.lock();
    --created_;
    idle_cv_.notify_one();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> c) noexcept {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(c));
  }
  idle_cv_.notify_one();
}

}  // namespace herald::redis
