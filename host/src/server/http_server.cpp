#include "server/http_server.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <optional>
#include <system_error>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/errors.hpp"

namespace herald {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse json_error(unsigned version, int status, std::string_view message) {
  HttpResponse res(static_cast<http::status>(status), version);
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{{"error", message}}) + "\n";
  return res;
}

namespace {
// What one connection may hold unparsed: a whole header, plus room for a chunk line, a
// pipelined request's start and efficient reads.
std::size_t read_buffer_limit(const ServerConfig& config) {
  return config.header_limit + 16 * 1024;
}

// OpenSSL's reason for a failure (the first queued: the root cause; never file contents), and
// the error queue cleared.
std::string ssl_reason() {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  if (ERR_SYSTEM_ERROR(e))  // errno of a failed open/read: "No such file or directory"
    return std::generic_category().message(static_cast<int>(ERR_GET_REASON(e)));
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

// ALPN: http/1.1 when the client offers it; no ALPN answer otherwise (HTTP/1.1 is all we speak).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// A server context for the PEM pair: TLS 1.2+, OpenSSL's default ciphers. Throws
// std::runtime_error naming the paths only.
std::shared_ptr<asio::ssl::context> load_tls_context(const std::string& cert,
                                                     const std::string& key) {
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No session tickets or cache: nothing to resume, nothing kept per client.
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);  // idle keep-alive connections hold no buffers
  // An encrypted key must not make OpenSSL prompt on the terminal: it fails instead.
  SSL_CTX_set_default_passwd_cb(c, [](char*, int, int, void*) { return 0; });
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1)
    throw std::runtime_error("cannot load tls_cert `" + cert + "`: " + ssl_reason());
  if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      throw std::runtime_error("tls_key `" + key + "` does not match tls_cert `" + cert + "`");
    }
    throw std::runtime_error("cannot load tls_key `" + key + "`: " + ssl_reason() +
                             " (an unencrypted PEM private key is expected)");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    throw std::runtime_error("tls_key `" + key + "` does not match tls_cert `" + cert + "`");
  }
  return ctx;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// ThreadGroup

ThreadGroup::~ThreadGroup() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void ThreadGroup::start(unsigned count, std::function<void()> body) {
  for (unsigned i = 0; i < count; ++i)
    threads_.emplace_back([state = state_, body] {
      body();
      std::lock_guard lock(state->mutex);
      ++state->finished;
      state->done.notify_all();
    });
}

std::size_t ThreadGroup::join_until(std::chrono::steady_clock::time_point deadline) {
  std::size_t running = 0;
  {
    std::unique_lock lock(state_->mutex);
    state_->done.wait_until(lock, deadline, [&] { return state_->finished == threads_.size(); });
    running = threads_.size() - state_->finished;
  }
  for (auto& t : threads_) {
    if (running == 0)
      t.join();
    else
      t.detach();  // one is still inside a handler (a hung driver call): the process exits
  }
  threads_.clear();
  return running;
}

// ---------------------------------------------------------------------------------------------
// Session

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  // `tls`: the HTTPS context (null: plain HTTP).
  Session(HttpServer& server, tcp::socket socket, std::string ip,
          std::shared_ptr<asio::ssl::context> tls)
      : server_(server),
        strand_(asio::make_strand(server.io_)),
        socket_(std::move(socket)),
        timer_(strand_),
        buffer_(read_buffer_limit(server.config_)),
        tls_ctx_(std::move(tls)),
        ip_(std::move(ip)),
        created_(std::chrono::steady_clock::now()) {
    if (tls_ctx_) tls_.emplace(socket_, *tls_ctx_);
    boost::system::error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    remote_ = ec ? std::string("unknown")
                 : (peer.address().is_v6() ? "[" + peer.address().to_string() + "]"
                                           : peer.address().to_string()) +
                       ":" + std::to_string(peer.port());
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      if (self->tls_)
        self->handshake();
      else
        self->read();
    });
  }

  // From stop(): close now when idle; otherwise the current request ends the connection.
  void shutdown() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_ && !(self->parser_ && self->parser_->got_some())) self->close();
    });
  }

  // --- called by a WorkerLane thread (the session is busy: no I/O is pending on it) ---

  // Whether the client went away while its request waited (EOF or an error on the socket).
  // A client that half-closed after sending counts as gone too: HTTP clients do not do that.
  bool client_gone() const {
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  void run_queued() {
    HttpResponse res = handle();
    asio::post(strand_, [self = shared_from_this(), res = std::move(res)]() mutable {
      self->write(std::move(res), false);
    });
  }

  // 503 without running the handler: the lane was full, the request waited too long, or the
  // server is stopping.
  void reject(std::string message) {
    asio::post(strand_, [self = shared_from_this(), message = std::move(message)] {
      HttpResponse res = json_error(self->request_ ? self->request_->version() : 11, 503, message);
      res.set(http::field::retry_after, "1");
      self->write(std::move(res), false);
    });
  }

  // The client is gone: nobody to answer.
  void drop() {
    asio::post(strand_, [self = shared_from_this()] {
      self->busy_ = false;
      self->request_.reset();
      self->close();
    });
  }

  const HttpRequest& request() const { return *request_; }
  std::chrono::steady_clock::time_point queued_at() const { return started_; }

  ~Session() {
    if (fd_ >= 0) server_.forget(ip_);
  }

  // Once the session is admitted and tracked (its destructor then gives its slot back).
  void counted() { fd_ = socket_.native_handle(); }

 private:
  const ServerConfig& config() const { return server_.config_; }

  void arm_timer() {
    // A timer that fired just as its operation completed must not cancel the next one: each
    // arm gets a generation, and a stale expiry does nothing (all of this runs on the strand).
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(config().request_timeout);
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);  // the pending operation completes with operation_aborted
    });
  }
  void disarm_timer() {
    ++timer_generation_;
    timer_.cancel();
  }

  // HTTPS: the handshake first, under the request timeout (a client that never finishes it
  // holds its connection slot no longer than a slow request would).
  void handshake() {
    if (closing_) return close();
    timed_out_ = false;
    arm_timer();
    tls_->async_handshake(asio::ssl::stream_base::server,
                          asio::bind_executor(strand_, [self = shared_from_this()](
                                                           boost::system::error_code ec) {
                            self->on_handshake(ec);
                          }));
  }

  void on_handshake(boost::system::error_code ec) {
    disarm_timer();
    if (!ec) return read();
    ERR_clear_error();
    if (closing_) return close();  // cut off by stop()
    // A client that closes before finishing (a TCP health probe) is no failure to count.
    if (!timed_out_ && (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)) {
      server_.logger_->debug("TLS handshake with {}: the client closed the connection", remote_);
      return close();
    }
    server_.metrics_.tls_handshake_failure();
    const bool plain_http = ec.category() == asio::error::get_ssl_category() &&
                            ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                SSL_R_HTTP_REQUEST;
    server_.logger_->debug("TLS handshake with {} failed: {}", remote_,
                           timed_out_ ? std::string("timed out") : ec.message());
    if (plain_http) {
      // Best effort, on the raw socket: tell a plain-HTTP client why (the port speaks TLS).
      static constexpr std::string_view kPlain =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
          "Content-Length: 52\r\n\r\n{\"error\":\"this port speaks TLS only: use https://\"}\n";
      boost::system::error_code ignored;
      socket_.non_blocking(true, ignored);
      socket_.write_some(asio::buffer(kPlain.data(), kPlain.size()), ignored);
    }
    close();
  }

  void read() {
    if (closing_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config().header_limit));
    parser_->body_limit(config().body_limit);
    timed_out_ = false;
    arm_timer();
    auto done = asio::bind_executor(
        strand_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->on_read(ec);
        });
    if (tls_)
      http::async_read(*tls_, buffer_, *parser_, std::move(done));
    else
      http::async_read(socket_, buffer_, *parser_, std::move(done));
  }

  void on_read(boost::system::error_code ec) {
    disarm_timer();
    if (ec) {
      // A slow client that sent part of a request hears why it is cut off; an idle
      // keep-alive connection is just closed.
      if (timed_out_ && (parser_->got_some() || buffer_.size() > 0))
        return fail(408, "request timeout: the request was not received within " +
                             std::to_string(config().request_timeout.count()) + " ms");
      if (ec == http::error::body_limit)
        return fail(413, "request body too large (limit " + std::to_string(config().body_limit) +
                             " bytes)");
      if (ec == http::error::header_limit)
        return fail(431, "request header or trailer too large (limit " +
                             std::to_string(config().header_limit) + " bytes)");
      // The parser needed more than the read buffer holds without finishing a line: a chunk
      // header (size line, extensions) or trailer that never ends.
      if (ec == http::error::buffer_overflow)
        return fail(431, "request line, chunk header or trailer too long (limit " +
                             std::to_string(read_buffer_limit(config())) + " bytes)");
      if (ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message)
        return fail(400, "bad request: " + ec.message());
      return close();  // end of stream, reset, cancelled by stop()
    }
    busy_ = true;
    request_ = std::make_shared<HttpRequest>(parser_->release());
    parser_.reset();
    started_ = std::chrono::steady_clock::now();
    const Lane kind = server_.service_.lane(*request_);
    // Per address: an address that collected too many 401s is refused everything but the
    // cheap inline endpoints for a while; authorize requests have a rate of their own.
    if (kind != Lane::inline_ && !server_.unauthorized_rate_.has(ip_))
      return too_many("too many unauthorized requests from this address "
                      "(unauthorized_rate_per_ip " +
                      std::to_string(config().unauthorized_rate_per_ip) + "/s); retry later");
    if (kind == Lane::authorize && !server_.authorize_rate_.take(ip_))
      return too_many("too many authorize requests from this address (authorize_rate_per_ip " +
                      std::to_string(config().authorize_rate_per_ip) + "/s); retry later");
    WorkerLane* lane = server_.lane(kind);
    if (lane == nullptr) return write(handle(), false);
    enqueue(*lane);
  }

  void too_many(const std::string& message) {
    server_.metrics_.shed(Metrics::Shed::rate_limited);
    HttpResponse res = json_error(request_->version(), 429, message);
    res.set(http::field::retry_after, "1");
    write(std::move(res), false);
  }

  void enqueue(WorkerLane& lane);

  HttpResponse handle() {
    try {
      return server_.service_.handle(*request_, remote_);
    } catch (const std::exception& e) {
      server_.logger_->error("{} {} {}: internal error: {}", remote_, request_->method_string(),
                             request_->target(), e.what());
      return json_error(request_->version(), 500, "internal server error");
    }
  }

  // An error reply for a request that could not be read; the connection closes after it.
  void fail(int status, const std::string& message) {
    busy_ = true;
    request_.reset();
    started_ = std::chrono::steady_clock::now();
    write(json_error(11, status, message), true);
  }

  void write(HttpResponse res, bool close_after) {
    ++requests_;
    bool keep = !close_after && !closing_ && !server_.stopping_ && request_ &&
                request_->keep_alive();
    // Keep-alive ends after max_requests_per_connection answers or max_connection_age_ms.
    if (config().max_requests_per_connection != 0 &&
        requests_ >= config().max_requests_per_connection)
      keep = false;
    if (config().max_connection_age.count() != 0 &&
        std::chrono::steady_clock::now() - created_ >= config().max_connection_age)
      keep = false;
    res.set(http::field::server, "herald");
    res.keep_alive(keep);
    res.prepare_payload();
    const int status = static_cast<int>(res.result_int());
    server_.metrics_.http_response(status);
    if (status == 401) (void)server_.unauthorized_rate_.take(ip_);
    if (config().access_log && server_.logger_->should_log(spdlog::level::info)) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
              .count();
      server_.logger_->info(
          "access remote={} method={} path={} status={} bytes={} duration_ms={:.3f}", remote_,
          request_ ? std::string_view(request_->method_string()) : std::string_view("-"),
          request_ ? std::string_view(request_->target()).substr(
                         0, std::string_view(request_->target()).find('?'))
                   : std::string_view("-"),
          status, res.body().size(), ms);
    }
    response_ = std::make_shared<HttpResponse>(std::move(res));
    timed_out_ = false;
    arm_timer();  // a client that never reads its response is cut off too
    auto done = asio::bind_executor(
        strand_, [self = shared_from_this(), keep](boost::system::error_code ec, std::size_t) {
          self->disarm_timer();
          self->busy_ = false;
          self->response_.reset();
          self->request_.reset();
          if (ec || !keep) return self->close();
          self->read();
        });
    if (tls_)
      http::async_write(*tls_, *response_, std::move(done));
    else
      http::async_write(socket_, *response_, std::move(done));
  }

  void close() {
    boost::system::error_code ignored;
    disarm_timer();
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  HttpServer& server_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  // Bounded: whatever the framing (a chunk line that never ends), one connection's unparsed
  // input never exceeds this; body bytes leave it as they are parsed.
  beast::flat_buffer buffer_;
  // HTTPS: the context this session was made with (a reload does not pull it away) and the
  // TLS stream over socket_; both empty for plain HTTP.
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpRequest> request_;
  std::shared_ptr<HttpResponse> response_;
  std::string remote_;
  std::string ip_;  // the per-IP connection count's key
  int fd_ = -1;     // set once counted; read by a lane's client_gone() while the session is busy
  std::chrono::steady_clock::time_point created_;
  std::chrono::steady_clock::time_point started_;
  std::size_t requests_ = 0;
  bool busy_ = false;
  bool closing_ = false;
  bool timed_out_ = false;
};

// ---------------------------------------------------------------------------------------------
// WorkerLane: a bounded FIFO of busy sessions and the threads that run their handlers.

class HttpServer::WorkerLane {
 public:
  enum class Push { ok, full, stopping };

  WorkerLane(HttpServer& server, std::string name, std::size_t index, unsigned threads)
      : server_(server), name_(std::move(name)), index_(index) {
    threads_.start(threads, [this] { work(); });
  }

  Push push(std::shared_ptr<Session> session) {
    std::lock_guard lock(mutex_);
    if (closed_) return Push::stopping;
    if (queue_.size() >= server_.config_.queue_limit) return Push::full;
    queue_.push_back(std::move(session));
    server_.metrics_.queued(index_, 1);
    ready_.notify_one();
    return Push::ok;
  }

  // Stop taking requests (push answers `stopping`); queued ones still run.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }

  // The shutdown deadline: every queued request gets 503 without running; idle threads end.
  std::size_t reject_queued() {
    std::deque<std::shared_ptr<Session>> queued;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      finished_ = true;
      queued.swap(queue_);
      server_.metrics_.queued(index_, -static_cast<std::int64_t>(queued.size()));
      ready_.notify_all();
    }
    for (auto& s : queued) {
      server_.metrics_.shed(Metrics::Shed::shutdown);
      s->reject("server is shutting down: the request was not started; retry");
    }
    return queued.size();
  }

  std::size_t join_until(std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
      ready_.notify_all();
    }
    return threads_.join_until(deadline);
  }

  const std::string& name() const { return name_; }

 private:
  void work() {
    for (;;) {
      std::shared_ptr<Session> session;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return finished_ || !queue_.empty(); });
        if (queue_.empty()) return;
        session = std::move(queue_.front());
        queue_.pop_front();
        server_.metrics_.queued(index_, -1);
      }
      const auto waited = std::chrono::steady_clock::now() - session->queued_at();
      if (waited > server_.config_.queue_timeout) {
        server_.metrics_.shed(Metrics::Shed::queue_timeout);
        session->reject("server busy: the request waited more than queue_timeout_ms (" +
                        std::to_string(server_.config_.queue_timeout.count()) +
                        " ms) for a " + name_ + " worker; retry");
      } else if (session->client_gone()) {
        server_.metrics_.shed(Metrics::Shed::client_gone);
        session->drop();
      } else {
        session->run_queued();
      }
    }
  }

  HttpServer& server_;
  std::string name_;
  std::size_t index_;  // for the queue depth gauge
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<Session>> queue_;
  bool closed_ = false;
  bool finished_ = false;
  ThreadGroup threads_;  // last: its threads use the members above
};

void HttpServer::Session::enqueue(WorkerLane& lane) {
  switch (lane.push(shared_from_this())) {
    case WorkerLane::Push::ok:
      return;
    case WorkerLane::Push::full: {
      server_.metrics_.shed(Metrics::Shed::queue_full);
      HttpResponse res = json_error(
          request_->version(), 503,
          "server busy: the " + lane.name() + " queue is full (queue_limit " +
              std::to_string(config().queue_limit) + "); retry");
      res.set(http::field::retry_after, "1");
      return write(std::move(res), false);
    }
    case WorkerLane::Push::stopping: {
      server_.metrics_.shed(Metrics::Shed::shutdown);
      HttpResponse res =
          json_error(request_->version(), 503, "server is shutting down; retry elsewhere");
      res.set(http::field::retry_after, "1");
      return write(std::move(res), true);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(ServerConfig config, HttpService& service,
                       std::shared_ptr<spdlog::logger> logger, Metrics& metrics)
    : config_(std::move(config)),
      service_(service),
      logger_(std::move(logger)),
      metrics_(metrics),
      authorize_rate_(config_.authorize_rate_per_ip),
      unauthorized_rate_(config_.unauthorized_rate_per_ip),
      accept_strand_(asio::make_strand(io_)),
      acceptor_(accept_strand_),
      accept_timer_(accept_strand_) {}

HttpServer::~HttpServer() { stop(); }

HttpServer::WorkerLane* HttpServer::lane(Lane lane) const {
  switch (lane) {
    case Lane::publish:
      return publish_lane_.get();
    case Lane::authorize:
      return authorize_lane_.get();
    case Lane::admin:
      return admin_lane_.get();
    case Lane::inline_:
      break;
  }
  return nullptr;
}

std::string tls_files_problem(const ServerConfig& config) {
  if (!config.tls()) return {};
  try {
    (void)load_tls_context(config.tls_cert, config.tls_key);
  } catch (const std::exception& e) {
    return std::string("[server] ") + e.what();
  }
  return {};
}

void HttpServer::reload_tls() {
  if (!config_.tls()) return;
  auto fresh = load_tls_context(config_.tls_cert, config_.tls_key);
  std::lock_guard lock(tls_mutex_);
  tls_ctx_.swap(fresh);  // the old one lives on in the sessions that use it
}

std::shared_ptr<asio::ssl::context> HttpServer::tls_context() {
  std::lock_guard lock(tls_mutex_);
  return tls_ctx_;
}

void HttpServer::start() {
  if (config_.tls()) {
    try {
      reload_tls();
    } catch (const std::runtime_error& e) {
      throw ConfigException(std::string("[server] ") + e.what());
    }
  }
  const tcp::endpoint endpoint(asio::ip::make_address(config_.listen.host), config_.listen.port);
  try {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code(), "cannot listen on " + config_.listen.str());
  }
  port_ = acceptor_.local_endpoint().port();
  if (config_.worker_threads > 0) {  // 0: every handler inline (no lanes)
    publish_lane_ = std::make_unique<WorkerLane>(*this, "publish", 0, config_.worker_threads);
    authorize_lane_ = std::make_unique<WorkerLane>(*this, "authorize", 1,
                                                   config_.authorize_threads);
    admin_lane_ = std::make_unique<WorkerLane>(*this, "metrics", 2, 1);
  }
  work_.emplace(io_.get_executor());
  asio::dispatch(accept_strand_, [this] { accept(); });
  unsigned threads = config_.io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.start(threads, [this] { io_.run(); });
}

void HttpServer::log_limited(std::chrono::steady_clock::time_point& last, std::size_t& suppressed,
                             const std::string& text) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::seconds(1)) {
    ++suppressed;
    return;
  }
  if (suppressed > 0)
    logger_->warn("{} ({} more like it since the last such line)", text, suppressed);
  else
    logger_->warn("{}", text);
  last = now;
  suppressed = 0;
}

// Runs on accept_strand_ only.
void HttpServer::accept() {
  if (stopping_) return;
  acceptor_.async_accept(
      io_, asio::bind_executor(accept_strand_, [this](boost::system::error_code ec,
                                                      tcp::socket socket) {
        if (stopping_ || !acceptor_.is_open()) return;
        if (ec) return accept_failed(ec);
        accept_backoff_ = std::chrono::milliseconds(0);
        boost::system::error_code ignored;
        const auto peer = socket.remote_endpoint(ignored);
        const std::string ip = ignored ? std::string() : peer.address().to_string();
        Metrics::Shed why{};
        if (!admit(ip, why)) {
          // Over a connection limit: closed at once, before any byte is read.
          metrics_.shed(why);
          socket.close(ignored);
          log_limited(refuse_log_at_, refuse_suppressed_,
                      why == Metrics::Shed::max_connections
                          ? "connection refused: max_connections (" +
                                std::to_string(config_.max_connections) + ") reached"
                          : "connection from " + ip + " refused: max_connections_per_ip (" +
                                std::to_string(config_.max_connections_per_ip) + ") reached");
          return accept();
        }
        socket.set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(*this, std::move(socket), ip,
                                                 config_.tls() ? tls_context() : nullptr);
        session->counted();
        track(session);
        session->start();
        accept();
      }));
}

// Out of file descriptors (EMFILE/ENFILE), buffers or memory: accepting again at once would
// fail again at once, so pause (50 ms, doubling up to 500 ms) and log once per second.
void HttpServer::accept_failed(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;
  accept_backoff_ = accept_backoff_.count() == 0
                        ? std::chrono::milliseconds(50)
                        : std::min(accept_backoff_ * 2, std::chrono::milliseconds(500));
  log_limited(accept_log_at_, accept_suppressed_,
              "accept failed: " + ec.message() + "; pausing accepts for " +
                  std::to_string(accept_backoff_.count()) + " ms");
  accept_timer_.expires_after(accept_backoff_);
  accept_timer_.async_wait([this](boost::system::error_code wait_ec) {
    if (!wait_ec) accept();
  });
}

bool HttpServer::admit(const std::string& ip, Metrics::Shed& why) {
  std::lock_guard lock(sessions_mutex_);
  if (config_.max_connections != 0 && live_sessions_ >= config_.max_connections) {
    why = Metrics::Shed::max_connections;
    return false;
  }
  std::size_t& from_ip = per_ip_[ip];
  if (config_.max_connections_per_ip != 0 && from_ip >= config_.max_connections_per_ip) {
    why = Metrics::Shed::max_connections_per_ip;
    return false;
  }
  ++from_ip;
  ++live_sessions_;
  return true;
}

void HttpServer::forget(const std::string& ip) {
  std::lock_guard lock(sessions_mutex_);
  if (auto it = per_ip_.find(ip); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  if (--live_sessions_ == 0) sessions_gone_.notify_all();
}

void HttpServer::track(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(sessions_mutex_);
  // Drop entries of finished sessions now and then so the list stays small.
  if (sessions_.size() >= 64 && sessions_.size() % 64 == 0)
    std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
  sessions_.push_back(session);
}

std::size_t HttpServer::stop() {
  if (stopped_.exchange(true)) return 0;
  if (threads_.empty()) return 0;
  const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
  stopping_ = true;
  // The acceptor belongs to its strand: closed there, never concurrently with async_accept.
  asio::post(accept_strand_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_timer_.cancel();
  });
  for (WorkerLane* l : {publish_lane_.get(), authorize_lane_.get(), admin_lane_.get()})
    if (l != nullptr) l->close();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& weak : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
    sessions_.clear();
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  bool drained = false;
  {
    std::unique_lock lock(sessions_mutex_);
    drained = sessions_gone_.wait_until(lock, deadline, [this] { return live_sessions_ == 0; });
  }
  // Past the deadline: queued requests are answered 503 and never run; running handlers get a
  // short grace to finish and have their answers written, then they are abandoned.
  constexpr auto kGrace = std::chrono::milliseconds(500);
  std::size_t rejected = 0;
  for (WorkerLane* l : {publish_lane_.get(), authorize_lane_.get(), admin_lane_.get()})
    if (l != nullptr) rejected += l->reject_queued();
  if (!drained) {
    std::unique_lock lock(sessions_mutex_);
    logger_->warn(
        "shutdown: deadline of {} ms reached with {} connection(s) busy; {} queued request(s) "
        "answered 503 without running",
        config_.shutdown_timeout.count(), live_sessions_, rejected);
    sessions_gone_.wait_for(lock, kGrace, [this] { return live_sessions_ == 0; });
  }
  const auto grace_end = std::chrono::steady_clock::now() + kGrace;
  std::size_t abandoned = 0;
  for (WorkerLane* l : {publish_lane_.get(), authorize_lane_.get(), admin_lane_.get()})
    if (l != nullptr) abandoned += l->join_until(grace_end);
  work_.reset();
  io_.stop();
  abandoned += threads_.join_until(std::chrono::steady_clock::now() + kGrace);
  if (abandoned > 0)
    logger_->error("shutdown: {} thread(s) still inside a handler (a driver call that does not "
                   "return); abandoning them",
                   abandoned);
  return abandoned;
}

}  // namespace herald
