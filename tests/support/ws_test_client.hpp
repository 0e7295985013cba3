// A small blocking WebSocket client for tests, over a plain POSIX TCP socket, with full control
// of the bytes on the wire: well-formed traffic (masked text, binary, ping, close frames) as well
// as abuse (unmasked frames, bad opcodes, a header announcing a huge length, partial frames,
// abrupt resets, a tiny receive buffer and never reading). Every read has a deadline, so a test
// never hangs on a silent server. Pusher protocol 7 helpers on top: wait for an event by name,
// connection_established, subscribe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "background_process.hpp"  // process_rss_kb

namespace herald::testing_support {

namespace ws {

enum Opcode : int {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// One frame as the server sent it.
struct Frame {
  bool fin = true;
  int opcode = 0;
  bool masked = false;  // a server must never mask
  std::string payload;

  bool is_close() const noexcept { return opcode == kClose; }
  // The close code (0 when the close frame carries none).
  int close_code() const noexcept {
    if (payload.size() < 2) return 0;
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

// The bytes of one client frame. `mask` false makes an (illegal) unmasked client frame.
inline std::string encode_frame(int opcode, std::string_view payload, bool mask = true,
                                bool fin = true, std::uint32_t mask_key = 0x37fa213d) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0f));
  const unsigned char mask_bit = mask ? 0x80 : 0x00;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  }
  if (!mask) {
    out.append(payload);
    return out;
  }
  const unsigned char key[4] = {static_cast<unsigned char>(mask_key >> 24),
                                static_cast<unsigned char>(mask_key >> 16),
                                static_cast<unsigned char>(mask_key >> 8),
                                static_cast<unsigned char>(mask_key)};
  out.append(reinterpret_cast<const char*>(key), 4);
  const size_t start = out.size();
  out.append(payload);
  for (size_t i = 0; i < payload.size(); ++i) out[start + i] = static_cast<char>(out[start + i] ^ key[i % 4]);
  return out;
}

// A masked frame header only, announcing `length` payload bytes that never follow.
inline std::string encode_header(int opcode, std::uint64_t length, bool mask = true) {
  std::string out;
  out += static_cast<char>(0x80 | (opcode & 0x0f));
  const unsigned char mask_bit = mask ? 0x80 : 0x00;
  out += static_cast<char>(mask_bit | 127);
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xff);
  if (mask) out.append("\x11\x22\x33\x44", 4);
  return out;
}

inline std::string close_payload(int code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>((code >> 8) & 0xff);
  p += static_cast<char>(code & 0xff);
  p.append(reason);
  return p;
}

}  // namespace ws

// A blocking WebSocket client. Construct, then `handshake()` (or use `WsClient::open`).
class WsClient {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;

  struct Options {
    std::string target = "/app/app-key?protocol=7&client=js&version=8.4.0&flash=false";
    std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Origin", "..."}
    int receive_buffer = 0;  // SO_RCVBUF before connect (0 = the kernel's default)
    Millis timeout{5000};    // connect and handshake
  };

  explicit WsClient(std::uint16_t port, int receive_buffer = 0) : port_(port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval tv{5, 0};  // writes never block a test forever
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      throw std::system_error(error, std::generic_category(),
                              "connect 127.0.0.1:" + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~WsClient() { close_socket(); }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects and performs the upgrade; check `upgraded()` / `handshake_status()`.
  static std::unique_ptr<WsClient> open(std::uint16_t port, const Options& options) {
    auto client = std::make_unique<WsClient>(port, options.receive_buffer);
    client->handshake(options.target, options.headers, options.timeout);
    return client;
  }
  static std::unique_ptr<WsClient> open(std::uint16_t port, const std::string& target =
                                                                "/app/app-key?protocol=7") {
    Options options;
    options.target = target;
    return open(port, options);
  }

  // Sends the HTTP upgrade and reads the response head. Returns the HTTP status (0 when the
  // server closed or did not answer in time).
  int handshake(const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers = {},
                Millis timeout = Millis(5000)) {
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                          std::to_string(port_) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    if (!send_raw(request)) return 0;
    const auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return 0;
    }
    response_head_ = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    // "HTTP/1.1 101 Switching Protocols"
    const size_t space = response_head_.find(' ');
    status_ = space == std::string::npos ? 0 : std::atoi(response_head_.c_str() + space + 1);
    if (status_ == 101 &&
        response_head_.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos)
      status_ = -101;  // upgraded with a wrong Sec-WebSocket-Accept
    if (status_ != 101) {
      // The rest of a non-upgrade response (its body) for diagnostics.
      const auto body_deadline = Clock::now() + Millis(500);
      while (!eof_ && fill(body_deadline)) {
      }
      response_body_ = buffer_;
      buffer_.clear();
    }
    return status_;
  }

  int handshake_status() const noexcept { return status_; }
  bool upgraded() const noexcept { return status_ == 101; }
  const std::string& response_head() const noexcept { return response_head_; }
  const std::string& response_body() const noexcept { return response_body_; }
  int fd() const noexcept { return fd_; }

  // --- sending ------------------------------------------------------------------------------

  // Writes bytes as they are; false when the connection is gone (EPIPE, reset, timeout).
  bool send_raw(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      if (fd_ < 0) return false;
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool send_frame(int opcode, std::string_view payload, bool mask = true, bool fin = true) {
    return send_raw(ws::encode_frame(opcode, payload, mask, fin));
  }
  bool send_text(std::string_view text) { return send_frame(ws::kText, text); }
  bool send_binary(std::string_view bytes) { return send_frame(ws::kBinary, bytes); }
  bool send_json(const boost::json::value& v) { return send_text(boost::json::serialize(v)); }
  // {"event":event,"data":data[,"channel":channel]}
  bool send_event(std::string_view event, const boost::json::value& data,
                  std::string_view channel = {}) {
    boost::json::object o;
    o["event"] = event;
    if (!channel.empty()) o["channel"] = channel;
    o["data"] = data;
    return send_json(o);
  }
  bool send_ping(std::string_view payload = "hi") { return send_frame(ws::kPing, payload); }
  bool send_close(int code = 1000, std::string_view reason = {}) {
    return send_frame(ws::kClose, ws::close_payload(code, reason));
  }

  // Closes the socket; `reset` makes it an abortive close (RST) instead of a FIN.
  void close_socket(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd_);
    fd_ = -1;
  }

  // --- receiving ----------------------------------------------------------------------------

  // The next frame within `timeout`; nullopt on timeout or when the connection ended
  // (then `eof()` is true). Never answers anything by itself.
  std::optional<ws::Frame> read_frame(Millis timeout = Millis(5000)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto frame = parse_frame()) return frame;
      if (!fill(deadline)) return std::nullopt;
    }
  }

  // The next data message (text or binary, continuation frames joined) within `timeout`.
  // Answers pings with pongs (unless auto_pong is off) and records a close frame (see
  // close_frame()), answering it with a close. nullopt on timeout, close or EOF.
  std::optional<ws::Frame> read_message(Millis timeout = Millis(5000)) {
    const auto deadline = Clock::now() + timeout;
    std::optional<ws::Frame> message;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      auto frame = read_frame(left.count() > 0 ? left : Millis(0));
      if (!frame) return std::nullopt;
      if (frame->opcode == ws::kPing) {
        ++pings_received_;
        if (auto_pong) send_frame(ws::kPong, frame->payload);
        continue;
      }
      if (frame->opcode == ws::kPong) {
        pongs_.push_back(frame->payload);
        continue;
      }
      if (frame->opcode == ws::kClose) {
        close_ = *frame;
        if (!close_sent_) {
          close_sent_ = true;
          send_close(frame->close_code() != 0 ? frame->close_code() : 1000);
        }
        return std::nullopt;
      }
      if (frame->opcode == ws::kContinuation) {
        if (!message) {
          unexpected_.push_back("continuation without a start");
          continue;
        }
        message->payload += frame->payload;
        if (frame->fin) return message;
        continue;
      }
      if (frame->masked) unexpected_.push_back("masked server frame");
      if (frame->fin) return frame;
      message = std::move(frame);
    }
  }

  // The next text message as a JSON object within `timeout`; nullopt on timeout or close.
  // A text message that is not a JSON object is recorded in `unexpected()` and skipped.
  std::optional<boost::json::object> next_event(Millis timeout = Millis(5000)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      auto message = read_message(left.count() > 0 ? left : Millis(0));
      if (!message) return std::nullopt;
      if (message->opcode != ws::kText) {
        unexpected_.push_back("binary message from the server");
        continue;
      }
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(message->payload, ec);
      if (ec || !v.is_object()) {
        unexpected_.push_back("not a JSON object: " + message->payload);
        continue;
      }
      received_.push_back(v.as_object());
      return v.as_object();
    }
  }

  // Reads until an event named `name` (on `channel`, when given) arrives; every event read
  // before it is kept in `received()`. nullopt on timeout or close.
  std::optional<boost::json::object> wait_event(std::string_view name,
                                                Millis timeout = Millis(5000),
                                                std::string_view channel = {}) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      auto event = next_event(left.count() > 0 ? left : Millis(0));
      if (!event) return std::nullopt;
      if (event_name(*event) != name) continue;
      if (!channel.empty() && channel_of(*event) != channel) continue;
      return event;
    }
  }

  // Reads (answering pings, discarding events into received()) until the server closes.
  // Returns the close frame, or a frame with opcode -1 when the TCP connection ended without
  // one, or nullopt on timeout.
  std::optional<ws::Frame> wait_close(Millis timeout = Millis(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (!close_) {
      if (eof_) {
        ws::Frame f;
        f.opcode = -1;
        return f;
      }
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      (void)next_event(left);
    }
    return close_;
  }

  // Every event read so far, oldest first.
  const std::vector<boost::json::object>& received() const noexcept { return received_; }
  std::vector<std::string> received_names() const {
    std::vector<std::string> out;
    for (const auto& e : received_) out.push_back(event_name(e));
    return out;
  }
  const std::optional<ws::Frame>& close_frame() const noexcept { return close_; }
  const std::vector<std::string>& pongs() const noexcept { return pongs_; }
  const std::vector<std::string>& unexpected() const noexcept { return unexpected_; }
  int pings_received() const noexcept { return pings_received_; }
  bool eof() const noexcept { return eof_; }

  // True when nothing arrives within `quiet` (no event, close or EOF).
  bool silent_for(Millis quiet) {
    auto event = next_event(quiet);
    return !event && !close_ && !eof_;
  }

  bool auto_pong = true;

  // --- JSON helpers -------------------------------------------------------------------------

  static std::string event_name(const boost::json::object& e) {
    const auto* v = e.if_contains("event");
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
  }
  static std::string channel_of(const boost::json::object& e) {
    const auto* v = e.if_contains("channel");
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
  }
  // `data` parsed when it is a JSON string holding JSON (the double encoding), else as is;
  // null when absent.
  static boost::json::value data_of(const boost::json::object& e) {
    const auto* v = e.if_contains("data");
    if (v == nullptr) return nullptr;
    if (v->is_string()) {
      boost::system::error_code ec;
      boost::json::value parsed = boost::json::parse(v->get_string(), ec);
      if (!ec) return parsed;
    }
    return *v;
  }
  // `data` as the raw string the server sent ("" when it is not a string).
  static std::string data_string(const boost::json::object& e) {
    const auto* v = e.if_contains("data");
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
  }

 private:
  // Reads more bytes into buffer_ before `deadline`; false on timeout or EOF.
  bool fill(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left > 0 ? left : 0));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        return false;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }

  std::optional<ws::Frame> parse_frame() {
    if (buffer_.size() < 2) return std::nullopt;
    const auto* b = reinterpret_cast<const unsigned char*>(buffer_.data());
    ws::Frame f;
    f.fin = (b[0] & 0x80) != 0;
    f.opcode = b[0] & 0x0f;
    f.masked = (b[1] & 0x80) != 0;
    std::uint64_t length = b[1] & 0x7f;
    size_t pos = 2;
    if (length == 126) {
      if (buffer_.size() < 4) return std::nullopt;
      length = (std::uint64_t(b[2]) << 8) | b[3];
      pos = 4;
    } else if (length == 127) {
      if (buffer_.size() < 10) return std::nullopt;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | b[2 + i];
      pos = 10;
    }
    unsigned char key[4] = {0, 0, 0, 0};
    if (f.masked) {
      if (buffer_.size() < pos + 4) return std::nullopt;
      std::memcpy(key, b + pos, 4);
      pos += 4;
    }
    if (buffer_.size() < pos + length) return std::nullopt;
    f.payload = buffer_.substr(pos, length);
    if (f.masked)
      for (size_t i = 0; i < f.payload.size(); ++i)
        f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
    buffer_.erase(0, pos + length);
    return f;
  }

  std::uint16_t port_;
  int fd_ = -1;
  int status_ = 0;
  std::string response_head_, response_body_;
  std::string buffer_;
  bool eof_ = false;
  bool close_sent_ = false;
  std::optional<ws::Frame> close_;
  std::vector<boost::json::object> received_;
  std::vector<std::string> pongs_;
  std::vector<std::string> unexpected_;
  int pings_received_ = 0;
};

// A Pusher protocol 7 client: a WsClient that has read `pusher:connection_established`.
struct PusherConnection {
  std::unique_ptr<WsClient> ws;
  std::string socket_id;
  boost::json::value established_data;  // {"socket_id","activity_timeout"}

  WsClient* operator->() const noexcept { return ws.get(); }

  // Subscribes and returns the answer: subscription_succeeded or subscription_error for that
  // channel (or a pusher:error), nullopt when nothing came.
  std::optional<boost::json::object> subscribe(const std::string& channel,
                                               const std::string& auth = {},
                                               const std::string& channel_data = {},
                                               std::chrono::milliseconds timeout =
                                                   std::chrono::milliseconds(5000)) {
    boost::json::object data;
    data["channel"] = channel;
    if (!auth.empty()) data["auth"] = auth;
    if (!channel_data.empty()) data["channel_data"] = channel_data;
    ws->send_event("pusher:subscribe", data);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto event = ws->next_event(left.count() > 0 ? left : std::chrono::milliseconds(0));
      if (!event) return std::nullopt;
      const std::string name = WsClient::event_name(*event);
      if (name == "pusher:error") return event;
      if ((name == "pusher_internal:subscription_succeeded" ||
           name == "pusher:subscription_error") &&
          WsClient::channel_of(*event) == channel)
        return event;
    }
  }
};

// Connects to ws://127.0.0.1:port/app/{key} and reads the first event. `first` receives it
// (connection_established or pusher:error); the returned connection has a socket_id only when
// it was established.
inline PusherConnection pusher_connect(std::uint16_t port, const std::string& key = "app-key",
                                       std::optional<boost::json::object>* first = nullptr,
                                       WsClient::Options options = {}) {
  options.target = "/app/" + key + "?protocol=7&client=js&version=8.4.0&flash=false";
  PusherConnection c;
  c.ws = WsClient::open(port, options);
  if (!c.ws->upgraded()) return c;
  auto event = c.ws->next_event(std::chrono::milliseconds(5000));
  if (first != nullptr) *first = event;
  if (event && WsClient::event_name(*event) == "pusher:connection_established") {
    c.established_data = WsClient::data_of(*event);
    if (c.established_data.is_object()) {
      if (const auto* id = c.established_data.as_object().if_contains("socket_id");
          id != nullptr && id->is_string())
        c.socket_id = std::string(id->get_string());
    }
  }
  return c;
}


}  // namespace herald::testing_support
