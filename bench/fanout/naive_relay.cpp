// The naive relay of bench/run: what a first WebSocket broadcast server on Boost.Beast looks
// like, with the simplest broadcast loop. One thread, one io_context.
//
//   naive_relay --port P
//
//   GET /ws/CHANNEL (WebSocket upgrade)  subscribes the connection to CHANNEL
//   POST /pub/CHANNEL (body = data)      for every subscriber of CHANNEL: builds the JSON
//                                        {"event":"message","channel":CHANNEL,"data":DATA} with
//                                        Boost.JSON (one serialize per subscriber) and queues it;
//                                        each queued message is one websocket::stream::async_write
//                                        of its own. Answers 200 "ok".
//
// No batching, no shared frames, no backpressure limit: the point is the baseline.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class WsSession;
std::map<std::string, std::unordered_set<std::shared_ptr<WsSession>>> g_channels;

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket s, std::string channel) : ws_(std::move(s)), channel_(std::move(channel)) {}

  void start(http::request<http::string_body> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      g_channels[self->channel_].insert(self);
      self->read();
    });
  }

  void send(std::shared_ptr<const std::string> msg) {
    queue_.push_back(std::move(msg));
    if (queue_.size() == 1) write();
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->buf_.consume(self->buf_.size());
      self->read();
    });
  }
  void write() {
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write();
    });
  }
  void close() {
    auto it = g_channels.find(channel_);
    if (it != g_channels.end()) it->second.erase(shared_from_this());
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::string channel_;
  beast::flat_buffer buf_;
  std::deque<std::shared_ptr<const std::string>> queue_;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  explicit HttpSession(tcp::socket s) : stream_(std::move(s)) {}
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->handle();
    });
  }

 private:
  void handle() {
    std::string target(req_.target());
    if (websocket::is_upgrade(req_) && target.rfind("/ws/", 0) == 0) {
      std::make_shared<WsSession>(stream_.release_socket(), target.substr(4))->start(std::move(req_));
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req_.version());
    res->keep_alive(req_.keep_alive());
    if (req_.method() == http::verb::post && target.rfind("/pub/", 0) == 0) {
      std::string channel = target.substr(5);
      auto it = g_channels.find(channel);
      if (it != g_channels.end()) {
        for (const auto& sub : it->second) {
          boost::json::object o;
          o["event"] = "message";
          o["channel"] = channel;
          o["data"] = req_.body();
          sub->send(std::make_shared<const std::string>(boost::json::serialize(o)));
        }
      }
      res->body() = "ok";
    } else {
      res->result(http::status::not_found);
    }
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return;
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
};

void accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<HttpSession>(std::move(s))->read();
    }
    accept(acc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--port") {
    std::fprintf(stderr, "usage: naive_relay --port P\n");
    return 2;
  }
  asio::io_context io{1};
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), std::uint16_t(std::atoi(argv[2]))));
  accept(acc);
  std::fprintf(stderr, "naive_relay listening on 127.0.0.1:%s\n", argv[2]);
  io.run();
}
