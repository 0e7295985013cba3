#include "websocket/redis_bus.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

namespace herald::websocket {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using LogLevel = herald::sdk::LogLevel;

namespace {

// A bus problem worth a one-line message (never holds a credential).
struct BusError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ReaderDeleter {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// One socket to Redis and the RESP parser of what it sends.
struct RespSocket {
  explicit RespSocket(asio::io_context& ctx) : socket(ctx), reader(redisReaderCreate()) {
    if (!reader) throw std::bad_alloc();
  }
  tcp::socket socket;
  std::unique_ptr<redisReader, ReaderDeleter> reader;
  std::array<char, 64 * 1024> buffer{};

  awaitable<ReplyPtr> read_reply() {
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK)
        throw BusError("Redis sent a malformed reply");
      if (raw != nullptr) co_return ReplyPtr(static_cast<redisReply*>(raw));
      const std::size_t n = co_await socket.async_read_some(asio::buffer(buffer), use_awaitable);
      if (redisReaderFeed(reader.get(), buffer.data(), n) != REDIS_OK)
        throw BusError("Redis sent a malformed reply");
    }
  }
};

// One link: the publishing and the subscribed connection, alive until either fails.
struct Link {
  explicit Link(asio::io_context& ctx) : pub(ctx), sub(ctx) {}
  RespSocket pub, sub;
  bool writing = false;
  bool dead = false;
  std::string out;  // being written
  std::size_t out_count = 0;
  void close() {
    dead = true;
    boost::system::error_code ignored;
    pub.socket.close(ignored);
    sub.socket.close(ignored);
  }
};

std::string command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) redis::append_bulk(out, a);
  return out;
}

}  // namespace

struct RedisBus::Impl {
  Impl(herald::sdk::Host h, Options o, Callbacks c)
      : host(std::move(h)), options(std::move(o)), callbacks(std::move(c)) {
    publish_prefix = "*3\r\n$7\r\nPUBLISH\r\n";
    redis::append_bulk(publish_prefix, options.channel);
  }

  herald::sdk::Host host;
  Options options;
  Callbacks callbacks;
  std::string publish_prefix;  // *3 PUBLISH <channel>, encoded once
  asio::io_context ctx{1};
  std::thread thread;
  std::shared_ptr<Link> link;  // bus thread only
  struct Ticker {
    Ticker(asio::io_context& c, std::chrono::milliseconds p, std::function<void()> f)
        : timer(c), period(p), fn(std::move(f)) {}
    asio::steady_timer timer;
    std::chrono::milliseconds period;
    std::function<void()> fn;
    void arm() {
      timer.expires_after(period);
      timer.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        fn();
        arm();
      });
    }
  };
  std::vector<std::unique_ptr<Ticker>> tickers;  // armed by start()

  mutable std::mutex mutex;  // guards the fields below
  std::string pending;
  std::size_t pending_count = 0;
  bool up = false;
  bool kick_posted = false;
  bool writing = false;  // a write is in flight
  bool stopping = false;
  std::string problem_text = "connecting";
  Clock::time_point last_drop_log{};
  Stats counters;

  void log(LogLevel level, const std::string& message) const {
    if (host.raw() != nullptr && host.log_enabled(level)) host.log(level, message);
  }
  std::string where() const { return "Redis at " + options.endpoint.address(); }

  // Writes what is pending on the publishing connection, one write at a time.
  void kick() {
    {
      std::lock_guard lock(mutex);
      kick_posted = false;
    }
    auto l = link;
    if (!l || l->dead || l->writing) return;
    {
      std::lock_guard lock(mutex);
      if (pending.empty()) return;
      l->out.clear();
      l->out.swap(pending);
      l->out_count = pending_count;
      pending_count = 0;
      writing = true;
    }
    l->writing = true;
    asio::async_write(l->pub.socket, asio::buffer(l->out),
                      [self = this, l](boost::system::error_code ec, std::size_t) {
                        l->writing = false;
                        {
                          std::lock_guard lock(self->mutex);
                          self->writing = false;
                          if (!ec) self->counters.published += l->out_count;
                        }
                        if (ec) return l->close();
                        self->kick();
                      });
  }

  void post_kick_locked() {
    if (kick_posted || !up) return;
    kick_posted = true;
    asio::post(ctx, [this] { kick(); });
  }

  awaitable<void> connect(tcp::socket& socket, const tcp::resolver::results_type& where) {
    asio::steady_timer timeout(ctx, options.connect_timeout);
    bool timed_out = false;
    timeout.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      timed_out = true;
      boost::system::error_code ignored;
      socket.close(ignored);
    });
    try {
      co_await asio::async_connect(socket, where, use_awaitable);
    } catch (const boost::system::system_error& e) {
      timeout.cancel();
      throw BusError(timed_out ? std::string("connect timed out") : e.code().message());
    }
    timeout.cancel();
    socket.set_option(tcp::no_delay(true));
  }

  awaitable<void> login(RespSocket& s) {
    const auto& e = options.endpoint;
    if (e.password.empty()) co_return;
    const std::string auth = e.username.empty() ? command({"AUTH", e.password})
                                                : command({"AUTH", e.username, e.password});
    co_await asio::async_write(s.socket, asio::buffer(auth), use_awaitable);
    ReplyPtr r = co_await s.read_reply();
    if (r->type == REDIS_REPLY_ERROR) throw BusError("Redis refused the credentials");
  }

  awaitable<void> open(Link& l) {
    tcp::resolver resolver(ctx);
    const auto& e = options.endpoint;
    tcp::resolver::results_type where;
    try {
      where = co_await resolver.async_resolve(e.host, std::to_string(e.port), use_awaitable);
    } catch (const boost::system::system_error& err) {
      throw BusError("cannot resolve the host (" + err.code().message() + ")");
    }
    co_await connect(l.pub.socket, where);
    co_await connect(l.sub.socket, where);
    co_await login(l.pub);
    co_await login(l.sub);
    const std::string subscribe = command({"SUBSCRIBE", options.channel});
    co_await asio::async_write(l.sub.socket, asio::buffer(subscribe), use_awaitable);
    ReplyPtr r = co_await l.sub.read_reply();
    if (r->type != REDIS_REPLY_ARRAY)
      throw BusError(r->type == REDIS_REPLY_ERROR ? "SUBSCRIBE failed: " + std::string(r->str, r->len)
                                                  : std::string("SUBSCRIBE failed"));
  }

  // Replies to PUBLISH: receiver counts, or errors (counted).
  awaitable<void> drain_publish_replies(std::shared_ptr<Link> l) {
    try {
      for (;;) {
        ReplyPtr r = co_await l->pub.read_reply();
        if (r->type == REDIS_REPLY_ERROR) {
          std::lock_guard lock(mutex);
          ++counters.errors;
        }
      }
    } catch (const std::exception&) {
    }
    l->close();
  }

  // Until the link fails: every message on the channel to on_message. Returns why it ended.
  awaitable<std::string> receive(std::shared_ptr<Link> l) {
    try {
      for (;;) {
        ReplyPtr r = co_await l->sub.read_reply();
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            std::string_view(r->element[0]->str, r->element[0]->len) == "message" &&
            r->element[2]->type == REDIS_REPLY_STRING) {
          {
            std::lock_guard lock(mutex);
            ++counters.received;
          }
          callbacks.on_message(std::string_view(r->element[2]->str, r->element[2]->len));
        }
      }
    } catch (const boost::system::system_error& e) {
      co_return e.code() == asio::error::eof ? std::string("Redis closed the connection")
                                             : e.code().message();
    } catch (const std::exception& e) {
      co_return std::string(e.what());
    }
  }

  awaitable<void> run() {
    auto backoff = std::chrono::milliseconds(100);
    bool was_up = false;
    std::string last_logged;
    Clock::time_point last_log{};
    for (;;) {
      auto l = std::make_shared<Link>(ctx);
      std::string why;
      try {
        co_await open(*l);
      } catch (const boost::system::system_error& e) {
        why = e.code().message();
      } catch (const std::exception& e) {
        why = e.what();
      }
      if (why.empty()) {
        backoff = std::chrono::milliseconds(100);
        link = l;
        {
          std::lock_guard lock(mutex);
          if (stopping) co_return;
          up = true;
          problem_text.clear();
          if (was_up) ++counters.reconnects;
          counters.up = true;
        }
        log(LogLevel::info, "websocket: cluster bus " + std::string(was_up ? "back" : "up") +
                                " on " + where() + ", channel " + options.channel);
        was_up = true;
        callbacks.on_up();
        kick();
        asio::co_spawn(ctx, drain_publish_replies(l), asio::detached);
        why = co_await receive(l);
        l->close();
        link.reset();
        {
          std::lock_guard lock(mutex);
          up = false;
          counters.up = false;
          problem_text = "cluster bus down: " + where() + ": " + why;
          if (stopping) co_return;
        }
        log(LogLevel::warn, "websocket: cluster bus lost (" + where() + ": " + why +
                                "); local delivery continues, reconnecting");
        last_logged = why;
        last_log = Clock::now();
      } else {
        {
          std::lock_guard lock(mutex);
          problem_text = "cluster bus down: " + where() + ": " + why;
          if (stopping) co_return;
        }
        l->close();
        if (why != last_logged || Clock::now() - last_log > std::chrono::seconds(30)) {
          log(LogLevel::warn, "websocket: cluster bus cannot reach " + where() + ": " + why +
                                  "; retrying");
          last_logged = why;
          last_log = Clock::now();
        }
      }
      asio::steady_timer wait(ctx, backoff);
      boost::system::error_code ec;
      co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
};

RedisBus::RedisBus(herald::sdk::Host host, Options options, Callbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(host), std::move(options), std::move(callbacks))) {}

RedisBus::~RedisBus() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->ctx.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Pending handlers and coroutine frames go with the io_context, after the sockets and timers.
  if (impl_->link) impl_->link->close();
}

void RedisBus::start() {
  Impl* i = impl_.get();
  for (auto& t : i->tickers) t->arm();
  asio::co_spawn(i->ctx, i->run(), asio::detached);
  i->thread = std::thread([i] {
    auto work = asio::make_work_guard(i->ctx);
    i->ctx.run();
  });
}

void RedisBus::publish(std::string_view payload, bool droppable) {
  Impl& i = *impl_;
  std::lock_guard lock(i.mutex);
  if (!i.up && droppable) return;
  const std::size_t size = i.publish_prefix.size() + payload.size() + 24;
  if (i.pending.size() + size > i.options.queue_bytes) {
    ++i.counters.dropped;
    const auto now = Clock::now();
    if (now - i.last_drop_log > std::chrono::seconds(10)) {
      i.last_drop_log = now;
      i.log(LogLevel::warn, "websocket: cluster bus backlog full (" +
                                std::to_string(i.options.queue_bytes) +
                                " bytes): events for other nodes are dropped (counted in "
                                "herald_ws_bus_dropped_total)");
    }
    return;
  }
  i.pending += i.publish_prefix;
  redis::append_bulk(i.pending, payload);
  ++i.pending_count;
  i.post_kick_locked();
}

void RedisBus::every(std::chrono::milliseconds period, std::function<void()> fn) {
  impl_->tickers.push_back(std::make_unique<Impl::Ticker>(impl_->ctx, period, std::move(fn)));
}

void RedisBus::drain(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(impl_->mutex);
      if (!impl_->up || (impl_->pending.empty() && !impl_->kick_posted && !impl_->writing))
        return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string RedisBus::problem() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->problem_text;
}

RedisBus::Stats RedisBus::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

}  // namespace herald::websocket
