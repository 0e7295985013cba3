// Load generator for the `websocket` driver (plugins/websocket/README.md): Pusher protocol 7
// clients over plain TCP with a minimal WebSocket client (our own upgrade request and frame
// parser: masked client frames, unmasked server frames), one thread, Boost.Asio (epoll).
//
//   ws_fanout fanout --port P --app-key K --app-id A --secret S [--conns 1000] [--seconds 5]
//                    [--warmup-s 1] [--window 8] [--publishers 2] [--payload-bytes 20]
//                    [--publish pusher|api] [--api-port P --api-key K --api-connection C]
//                    [--server-pid PID] [--channel bench] [--event message]
//   ws_fanout idle   --port P --app-key K [--conns 10000] [--server-pid PID] [--settle-s 2]
//
// fanout: N clients connect, wait for pusher:connection_established, subscribe to one channel
// and wait for every pusher_internal:subscription_succeeded. Then messages are published through
// the Pusher HTTP API of the websocket connection (`POST /apps/{app_id}/events`, signed as
// pusher-http-node signs: body_md5 + HMAC-SHA256) or through `POST /api/publish` of herald serve,
// closed loop: message k is sent only once every delivery of message k-W has arrived, with at
// most --publishers HTTP requests in flight (one per keep-alive connection). Each payload is
// 'H' + 7-digit sequence + 12 hex digits of CLOCK_MONOTONIC ns (since the generator started),
// padded with 'x' to --payload-bytes, so every delivery gives a latency. A warm-up phase is
// published and drained first; the measured phase is then published for --seconds and drained
// (until every delivery arrived, or nothing arrived for --stall-s: the rest count as drops).
//
// idle: N clients connect and wait for connection_established (no subscription); the server's
// VmRSS (/proc/PID/status) is read before and after, and KiB per idle connection printed.
//
// Both modes print progress on stderr and one machine-readable `RESULT key=value ...` line on
// stdout. Exit status 0 on success, 1 when the server misbehaved (connection refused or closed,
// an HTTP error, drops, a malformed frame), 2 for usage errors.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pusher/pusher_signing.hpp"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// ---- small utilities ------------------------------------------------------------------------

std::uint64_t g_clock_base = 0;

std::uint64_t mono_ns_abs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}
// CLOCK_MONOTONIC ns since the generator started (fits the payload's 12 hex digits: 78 h).
std::uint64_t mono_ns() { return mono_ns_abs() - g_clock_base; }

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of a process (all its threads) from /proc/PID/stat, in seconds; -1 if unknown.
double proc_cpu_s(long pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream rest(line.substr(rp + 2));
  std::string field;
  // After "pid (comm) ": field 3 is state; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// VmRSS of a process in KiB; -1 if unknown.
long proc_rss_kib(long pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

int proc_threads(long pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return int(std::strtol(line.c_str() + 8, nullptr, 10));
  return -1;
}

// Time the process's threads spent runnable but waiting for a CPU (run-queue delay, field 2 of
// /proc/PID/task/*/schedstat), in seconds; -1 if unknown. On a shared machine this is the time
// the measured process lost to other work on its core.
double proc_runq_wait_s(long pid) {
  if (pid <= 0) return -1;
  std::error_code ec;
  double sum = 0;
  bool any = false;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "schedstat");
    unsigned long long run = 0, wait = 0;
    if (in >> run >> wait) {
      sum += double(wait) / 1e9;
      any = true;
    }
  }
  return any ? sum : -1;
}

bool proc_alive(long pid) { return pid <= 0 || ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

// Value of a JSON string member `"name":"value"` (no unescaping: we only read our own tokens and
// event names); empty view when absent or not a string.
std::string_view json_string_member(std::string_view msg, std::string_view name) {
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted.append("\"").append(name).append("\"");
  size_t p = 0;
  while ((p = msg.find(quoted, p)) != std::string_view::npos) {
    size_t q = p + quoted.size();
    while (q < msg.size() && (msg[q] == ' ' || msg[q] == '\t')) ++q;
    if (q < msg.size() && msg[q] == ':') {
      ++q;
      while (q < msg.size() && (msg[q] == ' ' || msg[q] == '\t')) ++q;
      if (q < msg.size() && msg[q] == '"') {
        size_t e = q + 1;
        while (e < msg.size() && msg[e] != '"') e += (msg[e] == '\\') ? 2 : 1;
        if (e <= msg.size()) return msg.substr(q + 1, std::min(e, msg.size()) - q - 1);
      }
      return {};
    }
    p = q;
  }
  return {};
}

std::string mask_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t& rng) {
  std::string f;
  f.reserve(payload.size() + 14);
  f += char(0x80 | opcode);
  if (payload.size() < 126) {
    f += char(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    f += char(0x80 | 126);
    f += char((payload.size() >> 8) & 0xff);
    f += char(payload.size() & 0xff);
  } else {
    f += char(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += char((std::uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  rng ^= rng << 13;  // xorshift32: masks need not be secret here, only present
  rng ^= rng >> 17;
  rng ^= rng << 5;
  unsigned char mask[4] = {std::uint8_t(rng >> 24), std::uint8_t(rng >> 16), std::uint8_t(rng >> 8),
                           std::uint8_t(rng)};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f += char(payload[i] ^ mask[i & 3]);
  return f;
}

std::uint64_t pct(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

// ---- options ----------------------------------------------------------------------------------

struct Options {
  std::string mode;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string app_key, app_id, secret;
  std::string channel = "bench";
  std::string event = "message";
  int conns = 1000;
  int connect_concurrency = 256;
  double seconds = 5;
  double warmup_s = 1;
  double stall_s = 5;
  double settle_s = 2;
  double deadline_s = 240;
  int window = 8;
  int publishers = 2;
  int payload_bytes = 20;
  std::string publish = "pusher";
  int api_port = 0;
  std::string api_key;
  std::string api_connection;
  long server_pid = 0;
  bool subscribe_idle = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "ws_fanout: %s\n(see the comment at the top of bench/ws/ws_fanout.cpp)\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("missing mode (fanout or idle)");
  o.mode = argv[1];
  if (o.mode != "fanout" && o.mode != "idle") usage("mode must be fanout or idle");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--subscribe") {
      o.subscribe_idle = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    std::string v = argv[++i];
    auto num = [&] { return std::atof(v.c_str()); };
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = int(num());
    else if (a == "--app-key") o.app_key = v;
    else if (a == "--app-id") o.app_id = v;
    else if (a == "--secret") o.secret = v;
    else if (a == "--channel") o.channel = v;
    else if (a == "--event") o.event = v;
    else if (a == "--conns") o.conns = int(num());
    else if (a == "--connect-concurrency") o.connect_concurrency = int(num());
    else if (a == "--seconds") o.seconds = num();
    else if (a == "--warmup-s") o.warmup_s = num();
    else if (a == "--stall-s") o.stall_s = num();
    else if (a == "--settle-s") o.settle_s = num();
    else if (a == "--deadline-s") o.deadline_s = num();
    else if (a == "--window") o.window = int(num());
    else if (a == "--publishers") o.publishers = int(num());
    else if (a == "--payload-bytes") o.payload_bytes = int(num());
    else if (a == "--publish") o.publish = v;
    else if (a == "--api-port") o.api_port = int(num());
    else if (a == "--api-key") o.api_key = v;
    else if (a == "--api-connection") o.api_connection = v;
    else if (a == "--server-pid") o.server_pid = std::atol(v.c_str());
    else usage("unknown option " + a);
  }
  if (o.port <= 0) usage("--port is required");
  if (o.app_key.empty()) usage("--app-key is required");
  if (o.conns <= 0) usage("--conns must be positive");
  if (o.payload_bytes < 20) usage("--payload-bytes must be at least 20");
  if (o.window < 1 || o.publishers < 1) usage("--window and --publishers must be >= 1");
  if (o.mode == "fanout") {
    if (o.publish == "pusher" && (o.app_id.empty() || o.secret.empty()))
      usage("--publish pusher needs --app-id and --secret");
    if (o.publish == "api" && (o.api_port <= 0 || o.api_key.empty()))
      usage("--publish api needs --api-port and --api-key");
    if (o.publish != "pusher" && o.publish != "api") usage("--publish must be pusher or api");
  }
  return o;
}

// ---- the benchmark ----------------------------------------------------------------------------

// The Sec-WebSocket-Key of RFC 6455's example and its accept value (section 1.3).
constexpr std::string_view kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

enum class CState { connecting, handshake, wait_established, wait_subscribed, ready, closed };

struct Client {
  Client(asio::io_context& io, size_t i) : sock(io), index(i) {}
  tcp::socket sock;
  size_t index;
  CState state = CState::connecting;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::string out, inflight;  // pending bytes, bytes being written
  bool writing = false;
  std::string frag;  // a fragmented text message being assembled
  bool in_frag = false;
};

struct Publisher {
  explicit Publisher(asio::io_context& io) : sock(io) {}
  tcp::socket sock;
  bool connected = false, busy = false;
  std::string req;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::uint64_t seq = 0;
};

enum class Phase { connecting, warmup, warmup_drain, measure, measure_drain, idle_settle, done };

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)), timer_(io_), endpoint_(asio::ip::make_address(o_.host), std::uint16_t(o_.port)) {
    creds_ = {o_.app_id, o_.app_key, o_.secret};
    handshake_ = "GET /app/" + o_.app_key +
                 "?protocol=7&client=herald-ws-bench&version=1.0&flash=false HTTP/1.1\r\nHost: " +
                 o_.host + ":" + std::to_string(o_.port) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                 std::string(kWsKey) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    subscribe_ = R"({"event":"pusher:subscribe","data":{"channel":")" + o_.channel + R"("}})";
  }

  int run() {
    start_ns_ = mono_ns();
    clients_.reserve(size_t(o_.conns));
    for (int i = 0; i < o_.conns; ++i) clients_.push_back(std::make_unique<Client>(io_, size_t(i)));
    if (o_.mode == "idle") {
      rss_before_ = proc_rss_kib(o_.server_pid);
      threads_before_ = proc_threads(o_.server_pid);
    }
    phase_ = Phase::connecting;
    phase_start_ns_ = mono_ns();
    std::fprintf(stderr, "  connecting %d clients to ws://%s:%d/app/%s%s\n", o_.conns, o_.host.c_str(),
                 o_.port, o_.app_key.c_str(),
                 o_.mode == "fanout" ? (" and subscribing to " + o_.channel).c_str() : "");
    for (int i = 0; i < std::min(o_.conns, o_.connect_concurrency); ++i) connect_next();
    tick();
    io_.run();
    return finish();
  }

 private:
  // ---- clients --------------------------------------------------------------------------------
  void connect_next() {
    if (next_connect_ >= clients_.size()) return;
    Client* c = clients_[next_connect_++].get();
    c->rbuf.resize(4096);
    c->sock.async_connect(endpoint_, [this, c](error_code ec) {
      if (ec) return client_failed(c, "connect", ec.message());
      c->sock.set_option(tcp::no_delay(true));
      c->state = CState::handshake;
      send_raw(c, handshake_);
      read(c);
    });
  }

  void target_reached(Client*) {
    ++targets_;
    connect_next();
    if (targets_ + failed_ == clients_.size() && phase_ == Phase::connecting) connected_all();
  }

  void client_failed(Client* c, const char* stage, const std::string& what) {
    bool counted_target = c->state == CState::ready;
    bool was_closed = c->state == CState::closed;
    c->state = CState::closed;
    error_code ignored;
    c->sock.close(ignored);
    if (was_closed) return;
    if (phase_ == Phase::done) return;
    ++failed_;
    if (counted_target) --targets_;
    std::string key = std::string(stage) + ": " + what;
    if (++failures_[key] <= 1)
      std::fprintf(stderr, "  SERVER? client #%zu failed at %s: %s (first of its kind)\n", c->index, stage,
                   what.c_str());
    if (phase_ == Phase::connecting) {
      connect_next();
      if (targets_ + failed_ == clients_.size()) connected_all();
    }
  }

  void send_raw(Client* c, std::string_view bytes) {
    c->out.append(bytes);
    flush(c);
  }
  void send_text(Client* c, std::string_view text) { send_raw(c, mask_frame(0x1, text, rng_)); }

  void flush(Client* c) {
    if (c->writing || c->out.empty() || c->state == CState::closed) return;
    c->writing = true;
    c->inflight.swap(c->out);
    c->out.clear();
    asio::async_write(c->sock, asio::buffer(c->inflight), [this, c](error_code ec, size_t) {
      c->writing = false;
      c->inflight.clear();
      if (ec) return client_failed(c, "write", ec.message());
      flush(c);
    });
  }

  void read(Client* c) {
    if (c->rbuf.size() - c->rlen < 1024) c->rbuf.resize(c->rbuf.size() * 2);
    c->sock.async_read_some(asio::buffer(c->rbuf.data() + c->rlen, c->rbuf.size() - c->rlen),
                            [this, c](error_code ec, size_t n) {
                              if (ec) {
                                if (c->state == CState::closed) return;
                                return client_failed(c, "read", ec == asio::error::eof ? "server closed the TCP connection" : ec.message());
                              }
                              on_read(c, n);
                            });
  }

  void on_read(Client* c, size_t n) {
    c->rlen += n;
    const std::uint64_t now = mono_ns();
    size_t pos = 0;
    char* b = c->rbuf.data();
    if (c->state == CState::handshake) {
      std::string_view head(b, c->rlen);
      auto end = head.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (c->rlen > 16384) return client_failed(c, "handshake", "response headers over 16 KiB");
        return read(c);
      }
      std::string_view hdr = head.substr(0, end);
      if (hdr.rfind("HTTP/1.1 101", 0) != 0)
        return client_failed(c, "handshake", "expected 101, got `" + std::string(hdr.substr(0, hdr.find("\r\n"))) + "`");
      if (hdr.find(kWsAccept) == std::string_view::npos)
        return client_failed(c, "handshake", "no or wrong Sec-WebSocket-Accept");
      pos = end + 4;
      c->state = CState::wait_established;
    }
    while (c->state != CState::closed) {
      size_t avail = c->rlen - pos;
      if (avail < 2) break;
      auto b0 = std::uint8_t(b[pos]), b1 = std::uint8_t(b[pos + 1]);
      if (b1 & 0x80) return client_failed(c, "frame", "masked frame from the server");
      if (b0 & 0x70) return client_failed(c, "frame", "RSV bits set (compression was not negotiated)");
      std::uint64_t len = b1 & 0x7f;
      size_t hdr = 2;
      if (len == 126) {
        if (avail < 4) break;
        len = (std::uint64_t(std::uint8_t(b[pos + 2])) << 8) | std::uint8_t(b[pos + 3]);
        hdr = 4;
      } else if (len == 127) {
        if (avail < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(b[pos + 2 + size_t(i)]);
        hdr = 10;
      }
      if (len > (64u << 20)) return client_failed(c, "frame", "frame over 64 MiB");
      if (avail < hdr + len) {
        if (c->rbuf.size() < hdr + len + 1024) {
          // Compact first, then grow to hold the whole frame.
          std::memmove(b, b + pos, avail);
          c->rlen = avail;
          pos = 0;
          c->rbuf.resize(hdr + len + 4096);
          b = c->rbuf.data();
        }
        break;
      }
      std::string_view payload(b + pos + hdr, size_t(len));
      bool fin = b0 & 0x80;
      std::uint8_t op = b0 & 0x0f;
      pos += hdr + size_t(len);
      if (!on_frame(c, op, fin, payload, now)) return;
    }
    if (c->state == CState::closed) return;
    if (pos > 0) {
      std::memmove(b, b + pos, c->rlen - pos);
      c->rlen -= pos;
    }
    read(c);
  }

  // false when the client was closed.
  bool on_frame(Client* c, std::uint8_t op, bool fin, std::string_view payload, std::uint64_t now) {
    switch (op) {
      case 0x1:
        if (!fin) {
          c->frag.assign(payload);
          c->in_frag = true;
          return true;
        }
        return on_text(c, payload, now);
      case 0x0: {
        if (!c->in_frag) {
          client_failed(c, "frame", "continuation without a start");
          return false;
        }
        c->frag.append(payload);
        if (!fin) return true;
        c->in_frag = false;
        std::string whole;
        whole.swap(c->frag);
        return on_text(c, whole, now);
      }
      case 0x2:
        ++unexpected_frames_;
        return true;
      case 0x8: {
        int code = payload.size() >= 2 ? (std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1]) : 1005;
        client_failed(c, "close frame", "server closed with " + std::to_string(code) +
                                            (payload.size() > 2 ? " `" + std::string(payload.substr(2)) + "`" : ""));
        return false;
      }
      case 0x9:
        send_raw(c, mask_frame(0xA, payload, rng_));
        return true;
      case 0xA:
        return true;
      default:
        client_failed(c, "frame", "unknown opcode " + std::to_string(op));
        return false;
    }
  }

  bool on_text(Client* c, std::string_view msg, std::uint64_t now) {
    std::string_view ev = json_string_member(msg, "event");
    if (ev == o_.event) {
      on_delivery(c, msg, now);
      return true;
    }
    if (ev == "pusher:connection_established") {
      if (c->state != CState::wait_established) {
        ++unexpected_frames_;
        return true;
      }
      if (o_.mode == "fanout" || o_.subscribe_idle) {
        c->state = CState::wait_subscribed;
        send_text(c, subscribe_);
      } else {
        c->state = CState::ready;
        target_reached(c);
      }
      return true;
    }
    if (ev == "pusher_internal:subscription_succeeded") {
      if (c->state == CState::wait_subscribed) {
        c->state = CState::ready;
        target_reached(c);
      }
      return true;
    }
    if (ev == "pusher:ping") {
      send_text(c, R"({"event":"pusher:pong","data":{}})");
      return true;
    }
    if (ev == "pusher:error" || ev == "pusher:subscription_error") {
      std::string key = "event " + std::string(ev);
      if (++failures_[key] <= 3) std::fprintf(stderr, "  SERVER? %.*s\n", int(msg.size()), msg.data());
      ++error_events_;
      return true;
    }
    if (++unexpected_frames_ <= 3)
      std::fprintf(stderr, "  unexpected frame: %.*s\n", int(std::min<size_t>(msg.size(), 300)), msg.data());
    return true;
  }

  void on_delivery(Client*, std::string_view msg, std::uint64_t now) {
    std::string_view data = json_string_member(msg, "data");
    if (data.size() < 20 || data[0] != 'H') {
      if (++malformed_ <= 3)
        std::fprintf(stderr, "  SERVER? malformed delivery: %.*s\n", int(std::min<size_t>(msg.size(), 300)), msg.data());
      return;
    }
    std::uint64_t seq = 0, ts = 0;
    for (int i = 1; i < 8; ++i) seq = seq * 10 + std::uint64_t(data[size_t(i)] - '0');
    for (int i = 8; i < 20; ++i) {
      char ch = data[size_t(i)];
      ts = (ts << 4) | std::uint64_t(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    if (seq >= recv_count_.size()) {
      if (++malformed_ <= 3) std::fprintf(stderr, "  SERVER? delivery of a sequence never sent: %" PRIu64 "\n", seq);
      return;
    }
    ++received_total_;
    last_delivery_ns_ = now;
    std::uint32_t& cnt = recv_count_[seq];
    if (++cnt > subscribers_) {
      ++duplicates_;
      return;
    }
    if (seq >= measure_first_seq_ && phase_ >= Phase::measure) {
      ++received_measured_;
      latencies_.push_back(now - ts);
    }
    if (seq == completed_through_) {
      while (completed_through_ < next_seq_ && recv_count_[completed_through_] >= subscribers_) ++completed_through_;
      progress_ns_ = now;
      pump();
    }
  }

  // ---- phases ---------------------------------------------------------------------------------
  void connected_all() {
    double secs = double(mono_ns() - phase_start_ns_) / 1e9;
    connect_s_ = secs;
    std::fprintf(stderr, "  %zu/%d clients %s in %.2f s (%zu failed)\n", targets_, o_.conns,
                 o_.mode == "fanout" ? "subscribed" : "established", secs, failed_);
    if (failed_ > 0) {
      ok_ = false;
      return stop();
    }
    subscribers_ = std::uint32_t(targets_);
    if (o_.mode == "idle") {
      phase_ = Phase::idle_settle;
      phase_start_ns_ = mono_ns();
      return;  // tick() reads the RSS after --settle-s
    }
    for (int i = 0; i < o_.publishers; ++i) publishers_.push_back(std::make_unique<Publisher>(io_));
    int port = o_.publish == "api" ? o_.api_port : o_.port;
    tcp::endpoint ep(asio::ip::make_address(o_.host), std::uint16_t(port));
    pending_pub_connects_ = o_.publishers;
    for (auto& up : publishers_) {
      Publisher* p = up.get();
      p->rbuf.resize(8192);
      p->sock.async_connect(ep, [this, p](error_code ec) {
        if (ec) return publish_failed("connect to the publish endpoint: " + ec.message());
        p->sock.set_option(tcp::no_delay(true));
        p->connected = true;
        if (--pending_pub_connects_ == 0) {
          phase_ = Phase::warmup;
          phase_start_ns_ = progress_ns_ = mono_ns();
          std::fprintf(stderr, "  warm-up: %.1f s, window %d, %d publisher connection(s) via %s\n", o_.warmup_s,
                       o_.window, o_.publishers,
                       o_.publish == "api" ? "POST /api/publish" : ("POST /apps/" + o_.app_id + "/events").c_str());
          pump();
        }
      });
    }
  }

  bool publishing() const { return phase_ == Phase::warmup || phase_ == Phase::measure; }

  // Sends as many messages as the window and free publisher connections allow; moves phases on
  // when a drain completes.
  void pump() {
    if (phase_ == Phase::done) return;
    if (publishing()) {
      for (auto& up : publishers_) {
        if (!publishing()) break;
        if (up->busy || !up->connected) continue;
        if (next_seq_ >= completed_through_ + std::uint64_t(o_.window)) break;
        publish(up.get(), next_seq_++);
      }
    }
    bool drained = completed_through_ == next_seq_ && in_flight_ == 0;
    if (phase_ == Phase::warmup_drain && drained) begin_measure();
    else if (phase_ == Phase::measure_drain && drained) end_measure(false);
  }

  void begin_measure() {
    std::fprintf(stderr, "  warm-up done: %" PRIu64 " messages; measuring %.1f s\n", next_seq_, o_.seconds);
    measure_first_seq_ = next_seq_;
    latencies_.clear();
    latencies_.reserve(size_t(4'000'000));
    received_measured_ = 0;
    srv_cpu0_ = proc_cpu_s(o_.server_pid);
    gen_cpu0_ = self_cpu_s();
    srv_wait0_ = proc_runq_wait_s(o_.server_pid);
    gen_wait0_ = proc_runq_wait_s(long(::getpid()));
    phase_ = Phase::measure;
    phase_start_ns_ = progress_ns_ = t0_ = mono_ns();
    last_delivery_ns_ = t0_;
    pump();
  }

  void end_measure(bool stalled) {
    t1_ = stalled ? last_delivery_ns_ : mono_ns();
    srv_cpu1_ = proc_cpu_s(o_.server_pid);
    gen_cpu1_ = self_cpu_s();
    srv_wait1_ = proc_runq_wait_s(o_.server_pid);
    gen_wait1_ = proc_runq_wait_s(long(::getpid()));
    measure_last_seq_ = next_seq_;
    stalled_ = stalled;
    stop();
  }

  void publish(Publisher* p, std::uint64_t seq) {
    if (recv_count_.size() <= seq) recv_count_.resize(seq + 1, 0);
    char data[32];
    std::snprintf(data, sizeof data, "H%07" PRIu64 "%012" PRIx64, seq % 10000000,
                  std::uint64_t(mono_ns() & 0xffffffffffffull));
    std::string payload(data, 20);
    payload.append(size_t(o_.payload_bytes - 20), 'x');
    std::string body;
    if (o_.publish == "pusher") {
      body = R"({"name":")" + o_.event + R"(","channel":")" + o_.channel + R"(","data":")" + payload + "\"}";
      std::string path = "/apps/" + o_.app_id + "/events";
      std::string q = herald::pusher::signed_query(creds_, "POST", path, body, std::int64_t(::time(nullptr)));
      p->req = "POST " + path + "?" + q + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    } else {
      body = R"({"topic":")" + o_.channel + R"(","message":")" + payload + "\"";
      if (!o_.api_connection.empty()) body += R"(,"connection":")" + o_.api_connection + "\"";
      body += "}";
      p->req = "POST /api/publish HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.api_port) +
               "\r\nAuthorization: Bearer " + o_.api_key +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    }
    p->busy = true;
    p->seq = seq;
    ++in_flight_;
    asio::async_write(p->sock, asio::buffer(p->req), [this, p](error_code ec, size_t) {
      if (ec) return publish_failed("write of a publish request: " + ec.message());
      p->rlen = 0;
      read_response(p);
    });
  }

  void read_response(Publisher* p) {
    if (p->rbuf.size() - p->rlen < 1024) p->rbuf.resize(p->rbuf.size() * 2);
    p->sock.async_read_some(asio::buffer(p->rbuf.data() + p->rlen, p->rbuf.size() - p->rlen),
                            [this, p](error_code ec, size_t n) {
                              if (ec) return publish_failed("read of a publish response: " + (ec == asio::error::eof ? std::string("server closed the connection") : ec.message()));
                              p->rlen += n;
                              std::string_view all(p->rbuf.data(), p->rlen);
                              auto end = all.find("\r\n\r\n");
                              if (end == std::string_view::npos) return read_response(p);
                              std::string head(all.substr(0, end));
                              std::string lower = head;
                              for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
                              size_t body_len = 0;
                              auto cl = lower.find("\r\ncontent-length:");
                              if (cl != std::string::npos) body_len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
                              else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
                                auto z = all.find("\r\n0\r\n\r\n", end);
                                if (z == std::string_view::npos) return read_response(p);
                                body_len = z + 7 - (end + 4);
                              }
                              if (p->rlen < end + 4 + body_len) return read_response(p);
                              int status = std::atoi(head.c_str() + 9);
                              std::string body(all.substr(end + 4, body_len));
                              if (status < 200 || status > 299)
                                return publish_failed("publish answered `" + head.substr(0, head.find("\r\n")) + "` " + body);
                              ++published_ok_;
                              if (lower.find("\r\nconnection: close") != std::string::npos)
                                return publish_failed("publish response had Connection: close");
                              p->busy = false;
                              --in_flight_;
                              pump();
                            });
  }

  void publish_failed(const std::string& what) {
    if (phase_ == Phase::done) return;
    std::fprintf(stderr, "  SERVER? %s\n", what.c_str());
    ++failures_["publish: " + what.substr(0, 60)];
    ok_ = false;
    stop();
  }

  void tick() {
    timer_.expires_after(std::chrono::milliseconds(250));
    timer_.async_wait([this](error_code ec) {
      if (ec || phase_ == Phase::done) return;
      std::uint64_t now = mono_ns();
      double in_phase = double(now - phase_start_ns_) / 1e9;
      if (double(now - start_ns_) / 1e9 > o_.deadline_s) {
        std::fprintf(stderr, "  deadline of %.0f s reached in phase %d: giving up\n", o_.deadline_s, int(phase_));
        ok_ = false;
        timed_out_ = true;
        return stop();
      }
      if (!proc_alive(o_.server_pid)) {
        std::fprintf(stderr, "  SERVER? process %ld is gone\n", o_.server_pid);
        ok_ = false;
        return stop();
      }
      if (++ticks_ % 4 == 0) {
        std::fprintf(stderr, "  [%5.1fs] %-13s ready %zu/%d failed %zu sent %" PRIu64 " deliveries %" PRIu64 "\n",
                     double(now - start_ns_) / 1e9, phase_name(), targets_, o_.conns, failed_, next_seq_,
                     received_total_);
      }
      if (phase_ == Phase::warmup && in_phase >= o_.warmup_s) {
        phase_ = Phase::warmup_drain;
        progress_ns_ = now;
        pump();
      } else if (phase_ == Phase::measure && in_phase >= o_.seconds) {
        phase_ = Phase::measure_drain;
        progress_ns_ = now;
        pump();
      }
      if ((phase_ == Phase::warmup || phase_ == Phase::warmup_drain || phase_ == Phase::measure ||
           phase_ == Phase::measure_drain) &&
          double(now - std::max(progress_ns_, last_delivery_ns_)) / 1e9 > o_.stall_s) {
        std::fprintf(stderr, "  SERVER? no progress for %.1f s: message %" PRIu64 " has %u/%u deliveries\n",
                     o_.stall_s, completed_through_, completed_through_ < recv_count_.size() ? recv_count_[completed_through_] : 0,
                     subscribers_);
        ok_ = false;
        if (phase_ == Phase::measure || phase_ == Phase::measure_drain) return end_measure(true);
        return stop();
      }
      if (phase_ == Phase::idle_settle && in_phase >= o_.settle_s) {
        rss_after_ = proc_rss_kib(o_.server_pid);
        threads_after_ = proc_threads(o_.server_pid);
        open_after_ = 0;
        for (auto& c : clients_) open_after_ += c->state == CState::ready;
        return stop();
      }
      if (phase_ == Phase::connecting && in_phase > 120) {
        std::fprintf(stderr, "  SERVER? connecting took over 120 s\n");
        ok_ = false;
        return stop();
      }
      tick();
    });
  }

  const char* phase_name() const {
    switch (phase_) {
      case Phase::connecting: return "connecting";
      case Phase::warmup: return "warm-up";
      case Phase::warmup_drain: return "warm-up drain";
      case Phase::measure: return "measuring";
      case Phase::measure_drain: return "drain";
      case Phase::idle_settle: return "idle";
      case Phase::done: return "done";
    }
    return "?";
  }

  void stop() {
    phase_ = Phase::done;
    timer_.cancel();
    io_.stop();
  }

  int finish() {
    int rc = ok_ ? 0 : 1;
    if (o_.mode == "idle") {
      if (rss_after_ < 0) {
        std::printf("RESULT mode=idle ok=0 conns=%d failed=%zu\n", o_.conns, failed_);
        return 1;
      }
      double per = double(rss_after_ - rss_before_) / double(o_.conns);
      std::fprintf(stderr, "  server VmRSS %ld KiB -> %ld KiB with %zu idle connections open (threads %d -> %d)\n",
                   rss_before_, rss_after_, open_after_, threads_before_, threads_after_);
      if (open_after_ != size_t(o_.conns)) {
        std::fprintf(stderr, "  SERVER? only %zu of %d connections still open after settling\n", open_after_, o_.conns);
        rc = 1;
      }
      std::printf("RESULT mode=idle ok=%d conns=%d open=%zu connect_s=%.2f rss_before_kib=%ld rss_after_kib=%ld "
                  "kib_per_conn=%.2f\n",
                  rc == 0, o_.conns, open_after_, connect_s_, rss_before_, rss_after_, per);
      // Close everything and see whether the memory comes back (informational).
      for (auto& c : clients_) {
        error_code ignored;
        c->sock.close(ignored);
      }
      return rc;
    }
    if (t1_ == 0) {
      std::printf("RESULT mode=fanout ok=0 subscribers=%u failed=%zu\n", subscribers_, failed_);
      return 1;
    }
    double wall = std::max(1e-9, double(t1_ - t0_) / 1e9);
    std::uint64_t msgs = measure_last_seq_ - measure_first_seq_;
    std::uint64_t expected = msgs * subscribers_;
    std::uint64_t drops = expected > received_measured_ ? expected - received_measured_ : 0;
    double srv_cpu = (srv_cpu0_ >= 0 && srv_cpu1_ >= 0) ? srv_cpu1_ - srv_cpu0_ : -1;
    double gen_cpu = gen_cpu1_ - gen_cpu0_;
    double srv_wait = (srv_wait0_ >= 0 && srv_wait1_ >= 0) ? srv_wait1_ - srv_wait0_ : -1;
    double gen_wait = (gen_wait0_ >= 0 && gen_wait1_ >= 0) ? gen_wait1_ - gen_wait0_ : -1;
    double rate = double(received_measured_) / wall;
    std::uint64_t p50 = pct(latencies_, 50), p99 = pct(latencies_, 99);
    std::uint64_t mx = latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
    if (drops > 0 || duplicates_ > 0 || malformed_ > 0) rc = 1;
    std::fprintf(stderr,
                 "  %" PRIu64 " messages x %u subscribers in %.3f s: %.0f deliveries/s, p50 %.3f ms, p99 %.3f ms, "
                 "max %.3f ms, drops %" PRIu64 ", server CPU %.2f s (%.2f s waiting for its core), generator CPU %.2f s "
                 "(%.2f s waiting)\n",
                 msgs, subscribers_, wall, rate, double(p50) / 1e6, double(p99) / 1e6, double(mx) / 1e6, drops,
                 srv_cpu, srv_wait, gen_cpu, gen_wait);
    std::printf("RESULT mode=fanout ok=%d subscribers=%u messages=%" PRIu64 " wall_s=%.4f deliveries=%" PRIu64
                " expected=%" PRIu64 " drops=%" PRIu64 " duplicates=%" PRIu64 " malformed=%" PRIu64
                " deliveries_per_s=%.0f msgs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f server_cpu_s=%.2f "
                "deliveries_per_server_cpu_s=%.0f gen_cpu_s=%.2f gen_cpu_pct=%.0f server_cpu_pct=%.0f "
                "server_runq_wait_s=%.2f gen_runq_wait_s=%.2f received_total=%" PRIu64 " stalled=%d window=%d publishers=%d payload_bytes=%d "
                "publish=%s\n",
                rc == 0, subscribers_, msgs, wall, received_measured_, expected, drops, duplicates_, malformed_, rate,
                double(msgs) / wall, double(p50) / 1e6, double(p99) / 1e6, double(mx) / 1e6, srv_cpu,
                srv_cpu > 0 ? double(received_measured_) / srv_cpu : 0.0, gen_cpu, 100.0 * gen_cpu / wall,
                srv_cpu >= 0 ? 100.0 * srv_cpu / wall : -1.0, srv_wait, gen_wait, received_total_, stalled_ ? 1 : 0, o_.window, o_.publishers,
                o_.payload_bytes, o_.publish.c_str());
    return rc;
  }

  Options o_;
  asio::io_context io_{1};
  asio::steady_timer timer_;
  tcp::endpoint endpoint_;
  herald::pusher::Credentials creds_;
  std::string handshake_, subscribe_;
  std::uint32_t rng_ = 0x9e3779b9u;

  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
  size_t next_connect_ = 0, targets_ = 0, failed_ = 0;
  std::map<std::string, int> failures_;
  int pending_pub_connects_ = 0;

  Phase phase_ = Phase::connecting;
  std::uint64_t start_ns_ = 0, phase_start_ns_ = 0, progress_ns_ = 0, last_delivery_ns_ = 0;
  std::uint64_t t0_ = 0, t1_ = 0;
  unsigned ticks_ = 0;
  double connect_s_ = 0;

  std::uint32_t subscribers_ = 0;
  std::vector<std::uint32_t> recv_count_;
  std::uint64_t next_seq_ = 0, completed_through_ = 0, in_flight_ = 0, published_ok_ = 0;
  std::uint64_t measure_first_seq_ = ~0ull, measure_last_seq_ = 0;
  std::uint64_t received_total_ = 0, received_measured_ = 0, duplicates_ = 0, malformed_ = 0;
  std::uint64_t unexpected_frames_ = 0, error_events_ = 0;
  std::vector<std::uint64_t> latencies_;
  double srv_cpu0_ = -1, srv_cpu1_ = -1, gen_cpu0_ = 0, gen_cpu1_ = 0;
  double srv_wait0_ = -1, srv_wait1_ = -1, gen_wait0_ = -1, gen_wait1_ = -1;
  bool ok_ = true, stalled_ = false, timed_out_ = false;

  long rss_before_ = -1, rss_after_ = -1;
  int threads_before_ = -1, threads_after_ = -1;
  size_t open_after_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  g_clock_base = mono_ns_abs();
  Options o = parse(argc, argv);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rlim_t(o.conns) + 64)
      usage("RLIMIT_NOFILE is " + std::to_string(rl.rlim_cur) + ", too low for " + std::to_string(o.conns) +
            " connections (raise the hard limit: ulimit -Hn)");
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Bench b(std::move(o));
    return b.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ws_fanout: %s\n", e.what());
    return 1;
  }
}
