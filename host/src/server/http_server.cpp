#include "server/http_server.hpp"

#include <optional>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>

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
}  // namespace

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer& server, tcp::socket socket)
      : server_(server),
        strand_(asio::make_strand(server.io_)),
        socket_(std::move(socket)),
        timer_(strand_),
        buffer_(read_buffer_limit(server.config_)) {
    boost::system::error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    remote_ = ec ? std::string("unknown")
                 : (peer.address().is_v6() ? "[" + peer.address().to_string() + "]"
                                           : peer.address().to_string()) +
                       ":" + std::to_string(peer.port());
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->read(); });
  }

  // From stop(): close now when idle; otherwise the current request ends the connection.
  void shutdown() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_ && !(self->parser_ && self->parser_->got_some())) self->close();
    });
  }

 private:
  const ServerConfig& config() const { return server_.config_; }

  void arm_timer() {
    timer_.expires_after(config().request_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the read or write finished in time
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);  // the pending operation completes with operation_aborted
    });
  }

  void read() {
    if (closing_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config().header_limit));
    parser_->body_limit(config().body_limit);
    timed_out_ = false;
    arm_timer();
    http::async_read(socket_, buffer_, *parser_,
                     asio::bind_executor(strand_, [self = shared_from_this()](
                                                      boost::system::error_code ec, std::size_t) {
                       self->on_read(ec);
                     }));
  }

  void on_read(boost::system::error_code ec) {
    timer_.cancel();
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
        return fail(431, "request header too large (limit " +
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
    if (server_.workers_ && server_.service_.may_block(*request_)) {
      asio::post(*server_.workers_, [self = shared_from_this()] {
        HttpResponse res = self->handle();
        asio::post(self->strand_, [self, res = std::move(res)]() mutable {
          self->write(std::move(res), false);
        });
      });
    } else {
      write(handle(), false);
    }
  }

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
    const bool keep = !close_after && !closing_ && request_ && request_->keep_alive();
    res.set(http::field::server, "herald");
    res.keep_alive(keep);
    res.prepare_payload();
    const int status = static_cast<int>(res.result_int());
    server_.metrics_.http_response(status);
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
    http::async_write(socket_, *response_,
                      asio::bind_executor(strand_, [self = shared_from_this(), keep](
                                                       boost::system::error_code ec, std::size_t) {
                        self->timer_.cancel();
                        self->busy_ = false;
                        self->response_.reset();
                        self->request_.reset();
                        if (ec || !keep) return self->close();
                        self->read();
                      }));
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

 public:
  ~Session() {
    std::lock_guard lock(server_.sessions_mutex_);
    if (--server_.live_sessions_ == 0) server_.sessions_gone_.notify_all();
  }

 private:
  HttpServer& server_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  // Bounded: whatever the framing (a chunk line that never ends), one connection's unparsed
  // input never exceeds this; body bytes leave it as they are parsed.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpRequest> request_;
  std::shared_ptr<HttpResponse> response_;
  std::string remote_;
  std::chrono::steady_clock::time_point started_;
  bool busy_ = false;
  bool closing_ = false;
  bool timed_out_ = false;
};

HttpServer::HttpServer(ServerConfig config, HttpService& service,
                       std::shared_ptr<spdlog::logger> logger, Metrics& metrics)
    : config_(std::move(config)),
      service_(service),
      logger_(std::move(logger)),
      metrics_(metrics),
      acceptor_(io_) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
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
  if (config_.worker_threads > 0)
    workers_ = std::make_unique<asio::thread_pool>(config_.worker_threads);
  work_.emplace(io_.get_executor());
  accept();
  unsigned threads = config_.io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

void HttpServer::accept() {
  acceptor_.async_accept(io_, [this](boost::system::error_code ec,
                                                        tcp::socket socket) {
    if (stopping_ || !acceptor_.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(*this, std::move(socket));
      track(session);
      session->start();
    } else if (ec != asio::error::operation_aborted) {
      logger_->warn("accept failed: {}", ec.message());  // e.g. out of file descriptors
    }
    accept();
  });
}

void HttpServer::track(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(sessions_mutex_);
  ++live_sessions_;
  // Drop entries of finished sessions now and then so the list stays small.
  if (sessions_.size() >= 64 && sessions_.size() % 64 == 0)
    std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
  sessions_.push_back(session);
}

void HttpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (threads_.empty()) return;
  stopping_ = true;
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& weak : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
    sessions_.clear();
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  {
    std::unique_lock lock(sessions_mutex_);
    if (!sessions_gone_.wait_for(lock, config_.shutdown_timeout,
                                 [this] { return live_sessions_ == 0; }))
      logger_->warn("shutdown: {} connection(s) still busy after {} ms, closing them",
                    live_sessions_, config_.shutdown_timeout.count());
  }
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (workers_) workers_->join();
}

}  // namespace herald
