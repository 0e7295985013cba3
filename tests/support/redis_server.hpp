// A throwaway redis-server for tests (no persistence, loopback only, a free port, optionally a
// unix socket), that can be killed and started again on the same port; and a small blocking
// RESP client to talk to it: commands for setup and checks, SUBSCRIBE/PSUBSCRIBE to see exactly
// what a driver published. Header-only; needs only POSIX sockets and background_process.hpp.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "background_process.hpp"
#include "test_files.hpp"

namespace herald::testing_support {

// One RESP2 reply.
struct RespReply {
  enum class Type { status, error, integer, bulk, nil, array };
  Type type = Type::nil;
  std::string text;  // status, error or bulk string
  long long integer = 0;
  std::vector<RespReply> elements;

  bool is_error() const noexcept { return type == Type::error; }
};

// A message received in subscriber mode.
struct RespMessage {
  std::string pattern;  // empty for SUBSCRIBE, the matching pattern for PSUBSCRIBE
  std::string channel;
  std::string payload;
};

// A blocking RESP client for tests: every read waits at most `timeout`.
class RespClient {
 public:
  // TCP to 127.0.0.1:port.
  explicit RespClient(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const int error = errno;
      ::close(fd_);
      throw std::system_error(error, std::generic_category(),
                              "connect to redis on " + std::to_string(port));
    }
  }
  // A unix socket.
  explicit RespClient(const std::filesystem::path& socket_path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = socket_path.string();
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
    path.copy(addr.sun_path, path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const int error = errno;
      ::close(fd_);
      throw std::system_error(error, std::generic_category(), "connect to " + path);
    }
  }
  ~RespClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Sends one command and returns its reply (an error reply is returned, not thrown).
  RespReply command(const std::vector<std::string>& args) {
    send_command(args);
    return read_reply();
  }

  // Subscribes and waits for every confirmation, so nothing published afterwards is missed.
  void subscribe(const std::vector<std::string>& channels) { enter("SUBSCRIBE", channels); }
  void psubscribe(const std::vector<std::string>& patterns) { enter("PSUBSCRIBE", patterns); }

  // The next published message, or nullopt when none arrives within `timeout`.
  std::optional<RespMessage> next_message(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::optional<RespReply> reply = try_read(deadline);
      if (!reply) return std::nullopt;
      const auto& e = reply->elements;
      if (reply->type != RespReply::Type::array || e.empty()) continue;
      if (e[0].text == "message" && e.size() == 3) return RespMessage{"", e[1].text, e[2].text};
      if (e[0].text == "pmessage" && e.size() == 4)
        return RespMessage{e[1].text, e[2].text, e[3].text};
    }
  }

  // Exactly `count` messages (fails the caller's expectations by returning fewer on timeout).
  std::vector<RespMessage> messages(size_t count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<RespMessage> out;
    while (out.size() < count) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = next_message(left);
      if (!m) break;
      out.push_back(std::move(*m));
    }
    return out;
  }

  RespReply read_reply() {
    auto reply = try_read(std::chrono::steady_clock::now() + timeout_);
    if (!reply) throw std::runtime_error("redis did not answer in time");
    return std::move(*reply);
  }

 private:
  void enter(const char* verb, const std::vector<std::string>& names) {
    std::vector<std::string> args{verb};
    args.insert(args.end(), names.begin(), names.end());
    send_command(args);
    for (size_t i = 0; i < names.size(); ++i) {
      RespReply r = read_reply();
      if (r.is_error()) throw std::runtime_error(std::string(verb) + " failed: " + r.text);
    }
  }

  void send_command(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::system_error(errno, std::generic_category(), "send to redis");
      sent += static_cast<size_t>(n);
    }
  }

  // Parses one reply at `pos` of buf_; nullopt when the buffer holds only part of it.
  std::optional<RespReply> parse(size_t& pos) const {
    const size_t eol = buf_.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    const char kind = buf_[pos];
    const std::string line = buf_.substr(pos + 1, eol - pos - 1);
    size_t next = eol + 2;
    RespReply r;
    switch (kind) {
      case '+':
        r.type = RespReply::Type::status;
        r.text = line;
        break;
      case '-':
        r.type = RespReply::Type::error;
        r.text = line;
        break;
      case ':':
        r.type = RespReply::Type::integer;
        r.integer = std::stoll(line);
        break;
      case '$': {
        const long long len = std::stoll(line);
        if (len < 0) break;  // nil
        if (buf_.size() < next + static_cast<size_t>(len) + 2) return std::nullopt;
        r.type = RespReply::Type::bulk;
        r.text = buf_.substr(next, static_cast<size_t>(len));
        next += static_cast<size_t>(len) + 2;
        break;
      }
      case '*': {
        const long long n = std::stoll(line);
        if (n < 0) break;
        r.type = RespReply::Type::array;
        for (long long i = 0; i < n; ++i) {
          auto element = parse(next);
          if (!element) return std::nullopt;
          r.elements.push_back(std::move(*element));
        }
        break;
      }
      default:
        throw std::runtime_error("not a RESP reply: " + buf_.substr(pos, 40));
    }
    pos = next;
    return r;
  }

  std::optional<RespReply> try_read(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      size_t pos = 0;
      if (auto r = parse(pos)) {
        buf_.erase(0, pos);
        return r;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[16384];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) throw std::runtime_error("redis closed the connection");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

// How to run a RedisServer; chain the setters: RedisServerOptions().args({...}).password("pw").
struct RedisServerOptions {
  std::vector<std::string> extra_args;  // e.g. {"--requirepass", "pw"}
  bool unix_socket = false;             // also listen on <dir>/redis.sock
  bool tcp = true;                      // false: the unix socket only (--port 0)
  std::optional<std::string> auth;      // for the readiness PING and client() under requirepass

  RedisServerOptions& args(std::vector<std::string> a) {
    extra_args = std::move(a);
    return *this;
  }
  RedisServerOptions& password(std::string p) {
    auth = std::move(p);
    return *this;
  }
  RedisServerOptions& unix_only() {
    unix_socket = true;
    tcp = false;
    return *this;
  }
};

// A redis-server on a free loopback port with `--save "" --appendonly no`, killed on
// destruction. kill()/start() keep the port (and unix socket path), as a restart would.
class RedisServer {
 public:
  using Options = RedisServerOptions;

  explicit RedisServer(Options options = Options())
      : options_(std::move(options)), dir_("herald-redis"), port_(free_tcp_port()) {
    start();
  }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::filesystem::path socket_path() const { return dir_ / "redis.sock"; }
  const std::filesystem::path& dir() const noexcept { return dir_.path(); }
  // redis://127.0.0.1:<port>/<db>
  std::string url(int db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  bool running() const { return process_ && process_->running(); }
  std::string output() const { return process_ ? process_->output() : std::string(); }

  static std::filesystem::path program() {
    auto path = find_program("redis-server");
    if (!path)
      throw std::runtime_error("redis-server not found on PATH (apt install redis-server)");
    return *path;
  }

  // Starts the server (again, on the same port) and waits until it answers a PING.
  void start() {
    if (running()) return;
    std::vector<std::string> args{"--port",       options_.tcp ? std::to_string(port_) : "0",
                                  "--bind",       "127.0.0.1",
                                  "--save",       "",
                                  "--appendonly", "no",
                                  "--dir",        dir_.path().string(),
                                  "--daemonize",  "no",
                                  "--logfile",    ""};
    if (options_.unix_socket) {
      args.insert(args.end(), {"--unixsocket", socket_path().string(), "--unixsocketperm", "700"});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    BackgroundProcess::Options bp;
    bp.log = dir_ / ("redis-" + std::to_string(++starts_) + ".log");
    process_ = std::make_unique<BackgroundProcess>(program(), args, bp);
    wait_until_ready();
  }

  // SIGKILL: a crash; the port is free again when this returns.
  void kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
    process_.reset();
  }
  // SIGTERM: a clean shutdown.
  void stop() {
    if (!process_) return;
    process_->stop();
    process_.reset();
  }
  void restart() {
    kill();
    start();
  }

  // An admin connection (TCP, or the unix socket without TCP; AUTH with the password when one
  // is set).
  std::unique_ptr<RespClient> client() const {
    auto c = options_.tcp ? std::make_unique<RespClient>(port_)
                          : std::make_unique<RespClient>(socket_path());
    if (options_.auth) {
      RespReply r = c->command({"AUTH", *options_.auth});
      if (r.is_error()) throw std::runtime_error("AUTH failed: " + r.text);
    }
    return c;
  }

 private:
  void wait_until_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      if (!process_->running())
        throw std::runtime_error("redis-server exited at start:\n" + process_->output());
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("redis-server did not answer in 30 s:\n" + process_->output());
      if (ready()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  bool ready() const {
    if (options_.tcp ? !tcp_port_open(port_) : !std::filesystem::exists(socket_path()))
      return false;
    try {
      return client()->command({"PING"}).text == "PONG";
    } catch (const std::exception&) {
      return false;
    }
  }

  Options options_;
  TempDir dir_;
  std::uint16_t port_;
  int starts_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace herald::testing_support
