// The load generator of bench/run (bench/README.md, "Fan-out against peers"): one thread,
// Boost.Asio (epoll), its own minimal WebSocket client (upgrade request, masked client frames,
// unmasked server frames) and HTTP/1.1 keep-alive publishers. It speaks the protocols of every
// server bench/run measures:
//
//   --proto pusher     Pusher protocol 7 (Herald's websocket driver): GET /app/KEY?protocol=7,
//                      pusher:connection_established, pusher:subscribe,
//                      pusher_internal:subscription_succeeded, pusher:ping/pong
//   --proto nchan      nchan WebSocket subscriber: GET /sub/CHANNEL, the message body per frame
//   --proto socketio   Socket.IO v2 / Engine.IO v3 (laravel-echo-server):
//                      GET /socket.io/?EIO=3&transport=websocket, '0{..}' open, '40' connect,
//                      '42["subscribe",{"channel":..}]', '2'/'3' ping/pong every 20 s,
//                      events '42["event-name","channel",data]'
//   --proto raw        the naive relay and the ceiling of bench/fanout: GET /ws/CHANNEL, one
//                      JSON text frame per message
//
//   --publish pusher   signed POST /apps/APP_ID/events (Pusher REST API, body_md5 + HMAC-SHA256)
//   --publish api      POST /api/publish of herald serve (Bearer API key)
//   --publish nchan    POST /pub/CHANNEL, the payload as the body
//   --publish les      POST /apps/APP_ID/events?auth_key=KEY (laravel-echo-server's HTTP API)
//   --publish raw      POST /pub/CHANNEL (relay, ceiling)
//
// Modes:
//   fanout  --conns N clients connect and subscribe (client i to channel i % --channels), then
//           every subscription is verified by a probe message published to each channel until
//           every client received one (Socket.IO subscriptions have no acknowledgement). Then
//           messages are published, round robin over the channels, either closed loop (message
//           k is sent once every delivery of message k - --window arrived; --publishers
//           keep-alive connections with one request each in flight) or open loop at a fixed
//           --rate messages/s (each message is stamped with its scheduled send time, so a late
//           send counts as latency: no coordinated omission). Warm-up, then --seconds measured,
//           then drained. HTTP publish throughput = closed loop with a huge window.
//   storm   --conns N clients connect + subscribe with --connect-concurrency in flight; the time
//           from the first connect to the last verified subscription gives connects+subscribes/s.
//   idle    --conns N clients connect (and, for nchan/raw, which subscribe in the URL, subscribe);
//           the server's VmRSS before/after gives KiB per idle connection.
//
// Payloads are '~' + 7-digit sequence + 12 hex digits of CLOCK_MONOTONIC ns (since the generator
// started) = 20 bytes, padded with 'x' to --payload-bytes; probes are '~P...'. Every received
// frame is searched for '~' (no server adds one), so every delivery of every protocol gives a
// latency; all of them are kept (exact percentiles, no sampling).
//
// Progress goes to stderr once a second; one `RESULT key=value ...` line to stdout. Exit 0 on
// success, 1 when the server misbehaved (refused, disconnected, HTTP error, drops), 2 on usage.
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
#include <deque>
#include <filesystem>
#include <fstream>
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
std::uint64_t mono_ns() { return mono_ns_abs() - g_clock_base; }

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of one process (all its threads) from /proc/PID/stat, in seconds; -1 if unknown.
double proc_cpu_one(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream rest(line.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long status_field(long pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = std::strlen(name);
  while (std::getline(in, line))
    if (line.compare(0, n, name) == 0) return std::strtol(line.c_str() + n, nullptr, 10);
  return -1;
}

double runq_wait_one(long pid) {
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

// The measured server may be several processes (nginx master + worker): sums over them.
struct Server {
  std::vector<long> pids;
  double cpu_s() const {
    if (pids.empty()) return -1;
    double s = 0;
    for (long p : pids) {
      double v = proc_cpu_one(p);
      if (v < 0) return -1;
      s += v;
    }
    return s;
  }
  long rss_kib() const {
    if (pids.empty()) return -1;
    long s = 0;
    for (long p : pids) {
      long v = status_field(p, "VmRSS:");
      if (v < 0) return -1;
      s += v;
    }
    return s;
  }
  double runq_wait_s() const {
    if (pids.empty()) return -1;
    double s = 0;
    for (long p : pids) s += std::max(0.0, runq_wait_one(p));
    return s;
  }
  bool alive() const {
    for (long p : pids)
      if (::access(("/proc/" + std::to_string(p)).c_str(), F_OK) != 0) return false;
    return true;
  }
};

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
        return msg.substr(q + 1, std::min(e, msg.size()) - q - 1);
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
  rng ^= rng << 13;
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
  int port = 0, pub_port = 0;
  std::string proto = "pusher", publish = "pusher";
  std::string app_key, app_id, secret;
  std::string api_key, api_connection;
  std::string channel = "bench";
  std::string event = "message";
  int conns = 1000;
  int channels = 1;
  int connect_concurrency = 256;
  double seconds = 5, warmup_s = 1, stall_s = 5, settle_s = 2, deadline_s = 240;
  double rate = 0;  // open loop when > 0 (messages/s)
  int window = 8;
  int publishers = 2;
  int payload_bytes = 20;
  Server server;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "loadgen: %s\n(see the comment at the top of bench/fanout/loadgen.cpp)\n", why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("missing mode (fanout, storm or idle)");
  o.mode = argv[1];
  if (o.mode != "fanout" && o.mode != "idle" && o.mode != "storm") usage("mode must be fanout, storm or idle");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    std::string v = argv[++i];
    auto num = [&] { return std::atof(v.c_str()); };
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = int(num());
    else if (a == "--pub-port") o.pub_port = int(num());
    else if (a == "--proto") o.proto = v;
    else if (a == "--publish") o.publish = v;
    else if (a == "--app-key") o.app_key = v;
    else if (a == "--app-id") o.app_id = v;
    else if (a == "--secret") o.secret = v;
    else if (a == "--api-key") o.api_key = v;
    else if (a == "--api-connection") o.api_connection = v;
    else if (a == "--channel") o.channel = v;
    else if (a == "--event") o.event = v;
    else if (a == "--conns") o.conns = int(num());
    else if (a == "--channels") o.channels = int(num());
    else if (a == "--connect-concurrency") o.connect_concurrency = int(num());
    else if (a == "--seconds") o.seconds = num();
    else if (a == "--warmup-s") o.warmup_s = num();
    else if (a == "--stall-s") o.stall_s = num();
    else if (a == "--settle-s") o.settle_s = num();
    else if (a == "--deadline-s") o.deadline_s = num();
    else if (a == "--rate") o.rate = num();
    else if (a == "--window") o.window = int(num());
    else if (a == "--publishers") o.publishers = int(num());
    else if (a == "--payload-bytes") o.payload_bytes = int(num());
    else if (a == "--server-pids") {
      std::stringstream ss(v);
      std::string p;
      while (std::getline(ss, p, ','))
        if (!p.empty()) o.server.pids.push_back(std::atol(p.c_str()));
    } else usage("unknown option " + a);
  }
  if (o.pub_port == 0) o.pub_port = o.port;
  if (o.port <= 0) usage("--port is required");
  if (o.conns <= 0 || o.channels <= 0 || o.channels > o.conns) usage("need 0 < --channels <= --conns");
  if (o.payload_bytes < 20) usage("--payload-bytes must be at least 20");
  if (o.window < 1 || o.publishers < 1) usage("--window and --publishers must be >= 1");
  if (o.proto != "pusher" && o.proto != "nchan" && o.proto != "socketio" && o.proto != "raw")
    usage("--proto must be pusher, nchan, socketio or raw");
  if (o.proto == "pusher" && o.app_key.empty()) usage("--proto pusher needs --app-key");
  if (o.publish == "pusher" && (o.app_id.empty() || o.secret.empty() || o.app_key.empty()))
    usage("--publish pusher needs --app-id, --app-key and --secret");
  if (o.publish == "api" && o.api_key.empty()) usage("--publish api needs --api-key");
  if (o.publish == "les" && (o.app_id.empty() || o.app_key.empty())) usage("--publish les needs --app-id and --app-key");
  if (o.publish != "pusher" && o.publish != "api" && o.publish != "nchan" && o.publish != "les" && o.publish != "raw")
    usage("--publish must be pusher, api, nchan, les or raw");
  return o;
}

// ---- the benchmark ----------------------------------------------------------------------------

constexpr std::string_view kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

enum class CState { connecting, handshake, wait_established, wait_subscribed, ready, closed };

struct Client {
  Client(asio::io_context& io, size_t i, int ch) : sock(io), index(i), channel(ch) {}
  tcp::socket sock;
  size_t index;
  int channel;
  CState state = CState::connecting;
  bool probed = false;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::string out, inflight;
  bool writing = false;
  std::string frag;
  bool in_frag = false;
};

struct Job {
  bool probe = false;
  std::uint64_t seq = 0;
  int channel = 0;
  std::uint64_t stamp_ns = 0;  // scheduled send time (open loop); 0 = now
};

struct Publisher {
  explicit Publisher(asio::io_context& io) : sock(io) {}
  tcp::socket sock;
  bool connected = false, busy = false;
  std::string req;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::uint64_t sent_ns = 0;
  bool measured = false;
};

enum class Phase { connecting, probing, warmup, warmup_drain, measure, measure_drain, idle_settle, done };

class Bench {
 public:
  explicit Bench(Options o)
      : o_(std::move(o)), timer_(io_), pace_timer_(io_), probe_timer_(io_),
        endpoint_(asio::ip::make_address(o_.host), std::uint16_t(o_.port)) {
    creds_ = {o_.app_id, o_.app_key, o_.secret};
    chan_subs_.assign(size_t(o_.channels), 0);
  }

  int run() {
    start_ns_ = mono_ns();
    clients_.reserve(size_t(o_.conns));
    for (int i = 0; i < o_.conns; ++i)
      clients_.push_back(std::make_unique<Client>(io_, size_t(i), i % o_.channels));
    if (o_.mode == "idle") {
      rss_before_ = o_.server.rss_kib();
    }
    phase_ = Phase::connecting;
    phase_start_ns_ = mono_ns();
    std::fprintf(stderr, "  %s: connecting %d %s clients to %s:%d (%d channel(s))\n", o_.mode.c_str(), o_.conns,
                 o_.proto.c_str(), o_.host.c_str(), o_.port, o_.channels);
    for (int i = 0; i < std::min(o_.conns, o_.connect_concurrency); ++i) connect_next();
    tick();
    io_.run();
    return finish();
  }

 private:
  std::string channel_name(int k) const {
    return o_.channels == 1 ? o_.channel : o_.channel + "_" + std::to_string(k);
  }

  std::string handshake_for(const Client* c) const {
    std::string path;
    if (o_.proto == "pusher")
      path = "/app/" + o_.app_key + "?protocol=7&client=herald-bench&version=1.0&flash=false";
    else if (o_.proto == "nchan")
      path = "/sub/" + channel_name(c->channel);
    else if (o_.proto == "socketio")
      path = "/socket.io/?EIO=3&transport=websocket";
    else
      path = "/ws/" + channel_name(c->channel);
    return "GET " + path + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(kWsKey) +
           "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }

  // ---- clients --------------------------------------------------------------------------------
  void connect_next() {
    if (next_connect_ >= clients_.size()) return;
    Client* c = clients_[next_connect_++].get();
    c->rbuf.resize(4096);
    c->sock.async_connect(endpoint_, [this, c](error_code ec) {
      if (ec) return client_failed(c, "connect", ec.message());
      c->sock.set_option(tcp::no_delay(true));
      c->state = CState::handshake;
      send_raw(c, handshake_for(c));
      read(c);
    });
  }

  void became_ready(Client* c) {
    c->state = CState::ready;
    ++targets_;
    ++chan_subs_[size_t(c->channel)];
    connect_next();
    if (targets_ + failed_ == clients_.size() && phase_ == Phase::connecting) connected_all();
  }

  void client_failed(Client* c, const char* stage, const std::string& what) {
    bool was_ready = c->state == CState::ready;
    bool was_closed = c->state == CState::closed;
    c->state = CState::closed;
    error_code ignored;
    c->sock.close(ignored);
    if (was_closed || phase_ == Phase::done) return;
    ++failed_;
    if (phase_ != Phase::connecting) ++disconnects_;
    if (was_ready) {
      --targets_;
      --chan_subs_[size_t(c->channel)];
    }
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
                                return client_failed(c, "read",
                                                     ec == asio::error::eof ? "server closed the TCP connection"
                                                                            : ec.message());
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
        return client_failed(c, "handshake",
                             "expected 101, got `" + std::string(hdr.substr(0, hdr.find("\r\n"))) + "`");
      if (hdr.find(kWsAccept) == std::string_view::npos)
        return client_failed(c, "handshake", "no or wrong Sec-WebSocket-Accept");
      pos = end + 4;
      c->state = CState::wait_established;
      // nchan and the raw servers subscribe in the upgrade URL.
      if (o_.proto == "nchan" || o_.proto == "raw") became_ready(c);
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

  bool on_frame(Client* c, std::uint8_t op, bool fin, std::string_view payload, std::uint64_t now) {
    switch (op) {
      case 0x1:
      case 0x2:
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
      case 0x8: {
        int code = payload.size() >= 2 ? (std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1]) : 1005;
        client_failed(c, "close frame",
                      "server closed with " + std::to_string(code) +
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
    // A delivery of any protocol: the only frames with a '~' are ours.
    if (const void* t = std::memchr(msg.data(), '~', msg.size())) {
      if (c->state == CState::ready) on_delivery(c, msg.substr(size_t(static_cast<const char*>(t) - msg.data())), now);
      return true;
    }
    if (o_.proto == "pusher") return on_pusher(c, msg);
    if (o_.proto == "socketio") return on_socketio(c, msg);
    if (++unexpected_frames_ <= 3)
      std::fprintf(stderr, "  unexpected frame: %.*s\n", int(std::min<size_t>(msg.size(), 300)), msg.data());
    return true;
  }

  bool subscribe_wanted() const { return o_.mode != "idle"; }

  bool on_pusher(Client* c, std::string_view msg) {
    std::string_view ev = json_string_member(msg, "event");
    if (ev == "pusher:connection_established") {
      if (c->state != CState::wait_established) return true;
      if (subscribe_wanted()) {
        c->state = CState::wait_subscribed;
        send_text(c, R"({"event":"pusher:subscribe","data":{"channel":")" + channel_name(c->channel) + R"("}})");
      } else {
        became_ready(c);
      }
      return true;
    }
    if (ev == "pusher_internal:subscription_succeeded") {
      if (c->state == CState::wait_subscribed) became_ready(c);
      return true;
    }
    if (ev == "pusher:ping") {
      send_text(c, R"({"event":"pusher:pong","data":{}})");
      return true;
    }
    if (ev == "pusher:error" || ev == "pusher:subscription_error") {
      if (++failures_["event " + std::string(ev)] <= 3) std::fprintf(stderr, "  SERVER? %.*s\n", int(msg.size()), msg.data());
      return true;
    }
    if (++unexpected_frames_ <= 3)
      std::fprintf(stderr, "  unexpected frame: %.*s\n", int(std::min<size_t>(msg.size(), 300)), msg.data());
    return true;
  }

  // Engine.IO v3 packet types: 0 open, 1 close, 2 ping, 3 pong, 4 message; Socket.IO v2 packet
  // types inside a message: 0 connect, 1 disconnect, 2 event, 4 error.
  bool on_socketio(Client* c, std::string_view msg) {
    if (msg.empty()) return true;
    switch (msg[0]) {
      case '0':
      case '3':
        return true;
      case '2':
        send_text(c, "3");
        return true;
      case '1':
        client_failed(c, "engine.io", "server sent close");
        return false;
      case '4':
        if (msg.size() >= 2 && msg[1] == '0') {
          if (c->state != CState::wait_established) return true;
          if (subscribe_wanted())
            send_text(c, R"(42["subscribe",{"channel":")" + channel_name(c->channel) + R"(","auth":{"headers":{}}}])");
          became_ready(c);  // no acknowledgement: the probe phase verifies the subscription
          return true;
        }
        if (msg.size() >= 2 && (msg[1] == '1' || msg[1] == '4')) {
          client_failed(c, "socket.io", "server sent `" + std::string(msg.substr(0, 200)) + "`");
          return false;
        }
        return true;  // events without our marker (none expected)
      default:
        if (++unexpected_frames_ <= 3)
          std::fprintf(stderr, "  unexpected frame: %.*s\n", int(std::min<size_t>(msg.size(), 300)), msg.data());
        return true;
    }
  }

  // `m` starts at the '~' of our payload.
  void on_delivery(Client* c, std::string_view m, std::uint64_t now) {
    if (m.size() < 20) {
      if (++malformed_ <= 3) std::fprintf(stderr, "  SERVER? truncated delivery: %.*s\n", int(m.size()), m.data());
      return;
    }
    if (m[1] == 'P') {  // probe: the subscription works
      if (!c->probed) {
        c->probed = true;
        ++probed_;
        if (probed_ == targets_ && phase_ == Phase::probing) probing_done();
      }
      return;
    }
    std::uint64_t seq = 0, ts = 0;
    for (int i = 1; i < 8; ++i) seq = seq * 10 + std::uint64_t(m[size_t(i)] - '0');
    for (int i = 8; i < 20; ++i) {
      char ch = m[size_t(i)];
      ts = (ts << 4) | std::uint64_t(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    if (seq >= recv_count_.size()) {
      if (++malformed_ <= 3) std::fprintf(stderr, "  SERVER? delivery of a sequence never sent: %" PRIu64 "\n", seq);
      return;
    }
    if (int(seq % std::uint64_t(o_.channels)) != c->channel) {
      if (++malformed_ <= 3) std::fprintf(stderr, "  SERVER? message %" PRIu64 " reached a client of another channel\n", seq);
      return;
    }
    ++received_total_;
    last_delivery_ns_ = now;
    std::uint32_t& cnt = recv_count_[seq];
    if (++cnt > expected_for(seq)) {
      ++duplicates_;
      return;
    }
    if (seq >= measure_first_seq_ && seq < measure_last_seq_) {
      ++received_measured_;
      latencies_.push_back(now > ts ? now - ts : 0);
    }
    if (seq == completed_through_) {
      while (completed_through_ < next_seq_ && recv_count_[completed_through_] >= expected_for(completed_through_))
        ++completed_through_;
      progress_ns_ = now;
      pump();
    }
  }

  std::uint32_t expected_for(std::uint64_t seq) const { return chan_subs_[size_t(seq % std::uint64_t(o_.channels))]; }

  // ---- phases ---------------------------------------------------------------------------------
  void connected_all() {
    double secs = double(mono_ns() - phase_start_ns_) / 1e9;
    connect_s_ = secs;
    std::fprintf(stderr, "  %zu/%d clients ready in %.2f s (%zu failed)\n", targets_, o_.conns, secs, failed_);
    if (failed_ > 0) {
      ok_ = false;
      return stop();
    }
    if (o_.mode == "idle") {
      phase_ = Phase::idle_settle;
      phase_start_ns_ = mono_ns();
      return;
    }
    for (int i = 0; i < o_.publishers; ++i) publishers_.push_back(std::make_unique<Publisher>(io_));
    tcp::endpoint ep(asio::ip::make_address(o_.host), std::uint16_t(o_.pub_port));
    pending_pub_connects_ = o_.publishers;
    for (auto& up : publishers_) {
      Publisher* p = up.get();
      p->rbuf.resize(8192);
      p->sock.async_connect(ep, [this, p](error_code ec) {
        if (ec) return publish_failed("connect to the publish endpoint: " + ec.message());
        p->sock.set_option(tcp::no_delay(true));
        p->connected = true;
        if (--pending_pub_connects_ == 0) {
          phase_ = Phase::probing;
          probe_round();
        }
      });
    }
  }

  // One probe per channel that still has an unverified client; again every 100 ms once the
  // previous round's requests are answered (a slow server must not pile up probes).
  void probe_round() {
    if (phase_ != Phase::probing) return;
    if (!queue_.empty() || in_flight_ > 0) {
      probe_timer_.expires_after(std::chrono::milliseconds(20));
      probe_timer_.async_wait([this](error_code ec) {
        if (!ec && phase_ == Phase::probing) probe_round();
      });
      return;
    }
    std::vector<char> need(size_t(o_.channels), 0);
    for (auto& c : clients_)
      if (c->state == CState::ready && !c->probed) need[size_t(c->channel)] = 1;
    for (int k = 0; k < o_.channels; ++k)
      if (need[size_t(k)]) queue_.push_back(Job{true, 0, k, 0});
    ++probe_rounds_;
    dispatch();
    probe_timer_.expires_after(std::chrono::milliseconds(100));
    probe_timer_.async_wait([this](error_code ec) {
      if (!ec && phase_ == Phase::probing) probe_round();
    });
  }

  void probing_done() {
    probe_timer_.cancel();
    queue_.clear();  // probes not sent yet are not needed any more (only probes are queued here)
    verified_s_ = double(mono_ns() - start_ns_) / 1e9;
    std::fprintf(stderr, "  every subscription verified by a probe after %.2f s (%d probe round(s))\n", verified_s_,
                 probe_rounds_);
    if (o_.mode == "storm") return stop();
    phase_ = Phase::warmup;
    phase_start_ns_ = progress_ns_ = mono_ns();
    std::fprintf(stderr, "  warm-up %.1f s: %s, %d publisher connection(s), publish via %s\n", o_.warmup_s,
                 o_.rate > 0 ? ("open loop at " + std::to_string(int(o_.rate)) + " msg/s").c_str()
                             : ("closed loop, window " + std::to_string(o_.window)).c_str(),
                 o_.publishers, o_.publish.c_str());
    if (o_.rate > 0) {
      pace_start_ns_ = mono_ns();
      paced_ = 0;
      pace();
    }
    pump();
  }

  bool publishing() const { return phase_ == Phase::warmup || phase_ == Phase::measure; }

  // Open loop: queue every message whose scheduled time has come, stamped with that time.
  void pace() {
    if (!publishing()) return;
    std::uint64_t now = mono_ns();
    auto due = std::uint64_t(double(now - pace_start_ns_) * o_.rate / 1e9) + 1;
    while (paced_ < due) {
      std::uint64_t at = pace_start_ns_ + std::uint64_t(double(paced_) * 1e9 / o_.rate);
      new_message(at);
      ++paced_;
    }
    dispatch();
    std::uint64_t next_at = pace_start_ns_ + std::uint64_t(double(paced_) * 1e9 / o_.rate);
    pace_timer_.expires_after(std::chrono::nanoseconds(next_at > now ? next_at - now : 0));
    pace_timer_.async_wait([this](error_code ec) {
      if (!ec) pace();
    });
  }

  void new_message(std::uint64_t stamp) {
    std::uint64_t seq = next_seq_++;
    if (recv_count_.size() <= seq) recv_count_.resize(seq + 1, 0);
    queue_.push_back(Job{false, seq, int(seq % std::uint64_t(o_.channels)), stamp});
  }

  void pump() {
    if (phase_ == Phase::done) return;
    if (publishing() && o_.rate <= 0) {
      // Closed loop: keep `window` messages beyond the last completed one, one per free publisher.
      size_t free_pubs = 0;
      for (auto& up : publishers_) free_pubs += !up->busy && up->connected;
      while (free_pubs > queue_.size() && next_seq_ < completed_through_ + std::uint64_t(o_.window)) new_message(0);
    }
    dispatch();
    bool drained = completed_through_ == next_seq_ && in_flight_ == 0 && queue_.empty();
    if (phase_ == Phase::warmup_drain && drained) begin_measure();
    else if (phase_ == Phase::measure_drain && drained) end_measure(false);
  }

  void dispatch() {
    for (auto& up : publishers_) {
      if (queue_.empty()) break;
      if (up->busy || !up->connected) continue;
      Job j = queue_.front();
      queue_.pop_front();
      send_publish(up.get(), j);
    }
  }

  void begin_measure() {
    std::fprintf(stderr, "  warm-up done: %" PRIu64 " messages; measuring %.1f s\n", next_seq_, o_.seconds);
    measure_first_seq_ = next_seq_;
    latencies_.clear();
    latencies_.reserve(size_t(4'000'000));
    req_latencies_.clear();
    received_measured_ = 0;
    srv_cpu0_ = o_.server.cpu_s();
    gen_cpu0_ = self_cpu_s();
    srv_wait0_ = o_.server.runq_wait_s();
    gen_wait0_ = runq_wait_one(long(::getpid()));
    phase_ = Phase::measure;
    phase_start_ns_ = progress_ns_ = t0_ = mono_ns();
    last_delivery_ns_ = t0_;
    pump();
  }

  void end_measure(bool stalled) {
    t1_ = stalled ? last_delivery_ns_ : mono_ns();
    if (o_.rate > 0) t1_ = t0_ + std::uint64_t(o_.seconds * 1e9);  // the offered load's duration
    srv_cpu1_ = o_.server.cpu_s();
    gen_cpu1_ = self_cpu_s();
    srv_wait1_ = o_.server.runq_wait_s();
    gen_wait1_ = runq_wait_one(long(::getpid()));
    stalled_ = stalled;
    stop();
  }

  void send_publish(Publisher* p, const Job& j) {
    char data[40];
    std::uint64_t stamp = (j.stamp_ns ? j.stamp_ns : mono_ns()) & 0xffffffffffffull;
    if (j.probe)
      std::snprintf(data, sizeof data, "~P%06d%012" PRIx64, j.channel % 1000000, stamp);
    else
      std::snprintf(data, sizeof data, "~%07" PRIu64 "%012" PRIx64, j.seq % 10000000, stamp);
    std::string payload(data, 20);
    payload.append(size_t(o_.payload_bytes - 20), 'x');
    const std::string ch = channel_name(j.channel);
    const std::string host = o_.host + ":" + std::to_string(o_.pub_port);
    std::string body, head;
    if (o_.publish == "pusher") {
      body = R"({"name":")" + o_.event + R"(","channel":")" + ch + R"(","data":")" + payload + "\"}";
      std::string path = "/apps/" + o_.app_id + "/events";
      std::string q = herald::pusher::signed_query(creds_, "POST", path, body, std::int64_t(::time(nullptr)));
      head = "POST " + path + "?" + q + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n";
    } else if (o_.publish == "api") {
      body = R"({"topic":")" + ch + R"(","message":")" + payload + "\"";
      if (!o_.api_connection.empty()) body += R"(,"connection":")" + o_.api_connection + "\"";
      body += "}";
      head = "POST /api/publish HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + o_.api_key +
             "\r\nContent-Type: application/json\r\n";
    } else if (o_.publish == "les") {
      body = R"({"channel":")" + ch + R"(","name":")" + o_.event + R"(","data":")" + payload + "\"}";
      head = "POST /apps/" + o_.app_id + "/events?auth_key=" + o_.app_key + " HTTP/1.1\r\nHost: " + host +
             "\r\nContent-Type: application/json\r\n";
    } else {  // nchan, raw: the payload is the body
      body = payload;
      head = "POST /pub/" + ch + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: text/plain\r\n";
    }
    p->req = head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    p->busy = true;
    p->sent_ns = mono_ns();
    p->measured = phase_ == Phase::measure;
    ++in_flight_;
    asio::async_write(p->sock, asio::buffer(p->req), [this, p](error_code ec, size_t) {
      if (ec) return publish_failed("write of a publish request: " + ec.message());
      p->rlen = 0;
      read_response(p);
    });
  }

  void read_response(Publisher* p) {
    if (p->rbuf.size() - p->rlen < 1024) p->rbuf.resize(p->rbuf.size() * 2);
    p->sock.async_read_some(
        asio::buffer(p->rbuf.data() + p->rlen, p->rbuf.size() - p->rlen), [this, p](error_code ec, size_t n) {
          if (ec)
            return publish_failed("read of a publish response: " +
                                  (ec == asio::error::eof ? std::string("server closed the connection") : ec.message()));
          p->rlen += n;
          std::string_view all(p->rbuf.data(), p->rlen);
          auto end = all.find("\r\n\r\n");
          if (end == std::string_view::npos) return read_response(p);
          std::string lower(all.substr(0, end));
          for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
          size_t body_len = 0;
          auto cl = lower.find("\r\ncontent-length:");
          if (cl != std::string::npos) {
            body_len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
          } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
            auto z = all.find("\r\n0\r\n\r\n", end);
            if (z == std::string_view::npos) return read_response(p);
            body_len = z + 7 - (end + 4);
          }
          if (p->rlen < end + 4 + body_len) return read_response(p);
          int status = std::atoi(lower.c_str() + 9);
          if (status < 200 || status > 299)
            return publish_failed("publish answered `" + std::string(all.substr(0, all.find("\r\n"))) + "` " +
                                  std::string(all.substr(end + 4, std::min<size_t>(body_len, 200))));
          if (lower.find("\r\nconnection: close") != std::string::npos)
            return publish_failed("publish response had Connection: close");
          if (p->measured) req_latencies_.push_back(mono_ns() - p->sent_ns);
          p->busy = false;
          --in_flight_;
          pump();
        });
  }

  void publish_failed(const std::string& what) {
    if (phase_ == Phase::done) return;
    std::fprintf(stderr, "  SERVER? %s\n", what.c_str());
    ok_ = false;
    if (phase_ == Phase::measure || phase_ == Phase::measure_drain) return end_measure(true);
    stop();
  }

  void tick() {
    timer_.expires_after(std::chrono::milliseconds(250));
    timer_.async_wait([this](error_code ec) {
      if (ec || phase_ == Phase::done) return;
      std::uint64_t now = mono_ns();
      double in_phase = double(now - phase_start_ns_) / 1e9;
      if (double(now - start_ns_) / 1e9 > o_.deadline_s) {
        std::fprintf(stderr, "  deadline of %.0f s reached in phase %s: giving up\n", o_.deadline_s, phase_name());
        ok_ = false;
        return stop();
      }
      if (!o_.server.alive()) {
        std::fprintf(stderr, "  SERVER? the server process is gone\n");
        ok_ = false;
        return stop();
      }
      // Engine.IO v3: the client pings (pingInterval 25 s by default).
      if (o_.proto == "socketio" && now - last_eio_ping_ns_ > 20'000'000'000ull) {
        last_eio_ping_ns_ = now;
        for (auto& c : clients_)
          if (c->state == CState::ready) send_text(c.get(), "2");
      }
      if (++ticks_ % 4 == 0)
        std::fprintf(stderr, "  [%5.1fs] %-13s ready %zu/%d failed %zu probed %zu sent %" PRIu64 " deliveries %" PRIu64 "\n",
                     double(now - start_ns_) / 1e9, phase_name(), targets_, o_.conns, failed_, probed_, next_seq_,
                     received_total_);
      if (phase_ == Phase::warmup && in_phase >= o_.warmup_s) {
        if (o_.rate > 0) {  // open loop: keep the pace, start measuring without a gap
          begin_measure();
        } else {
          phase_ = Phase::warmup_drain;
          progress_ns_ = now;
          pump();
        }
      } else if (phase_ == Phase::measure && in_phase >= o_.seconds) {
        measure_last_seq_ = next_seq_;
        phase_ = Phase::measure_drain;
        progress_ns_ = now;
        pace_timer_.cancel();
        if (o_.rate > 0) {  // CPU of the offered-load period, not of the drain
          srv_cpu_pace_ = o_.server.cpu_s();
          gen_cpu_pace_ = self_cpu_s();
        }
        pump();
      }
      bool active = phase_ == Phase::warmup || phase_ == Phase::warmup_drain || phase_ == Phase::measure ||
                    phase_ == Phase::measure_drain;
      // (begin_measure() above may have set progress_ns_ after `now`.)
      const std::uint64_t last_progress = std::max(progress_ns_, last_delivery_ns_);
      if (active && now > last_progress && double(now - last_progress) / 1e9 > o_.stall_s) {
        std::fprintf(stderr, "  SERVER? no progress for %.1f s: message %" PRIu64 " has %u/%u deliveries\n", o_.stall_s,
                     completed_through_,
                     completed_through_ < recv_count_.size() ? recv_count_[completed_through_] : 0,
                     completed_through_ < recv_count_.size() ? expected_for(completed_through_) : 0);
        ok_ = false;
        if (phase_ == Phase::measure || phase_ == Phase::measure_drain) {
          if (measure_last_seq_ == ~0ull) measure_last_seq_ = next_seq_;
          return end_measure(true);
        }
        return stop();
      }
      if (phase_ == Phase::probing && in_phase > 60) {
        std::fprintf(stderr, "  SERVER? only %zu of %zu subscriptions delivered a probe in 60 s\n", probed_, targets_);
        ok_ = false;
        return stop();
      }
      if (phase_ == Phase::idle_settle && in_phase >= o_.settle_s) {
        rss_after_ = o_.server.rss_kib();
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
      case Phase::probing: return "probing";
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
    pace_timer_.cancel();
    probe_timer_.cancel();
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
      std::fprintf(stderr, "  server VmRSS %ld KiB -> %ld KiB with %zu idle connections open: %.2f KiB each\n",
                   rss_before_, rss_after_, open_after_, per);
      if (open_after_ != size_t(o_.conns)) rc = 1;
      std::printf("RESULT mode=idle ok=%d conns=%d open=%zu connect_s=%.3f conns_per_s=%.0f rss_before_kib=%ld "
                  "rss_after_kib=%ld kib_per_conn=%.3f\n",
                  rc == 0, o_.conns, open_after_, connect_s_, double(o_.conns) / std::max(1e-9, connect_s_),
                  rss_before_, rss_after_, per);
      return rc;
    }
    if (o_.mode == "storm") {
      bool good = rc == 0 && verified_s_ > 0;
      std::printf("RESULT mode=storm ok=%d conns=%d failed=%zu ready_s=%.3f verified_s=%.3f conns_per_s=%.0f "
                  "probe_rounds=%d\n",
                  good, o_.conns, failed_, connect_s_, verified_s_,
                  good ? double(o_.conns) / verified_s_ : 0.0, probe_rounds_);
      return good ? 0 : 1;
    }
    if (t1_ == 0) {
      std::printf("RESULT mode=fanout ok=0 conns=%d failed=%zu disconnects=%zu\n", o_.conns, failed_, disconnects_);
      return 1;
    }
    if (measure_last_seq_ == ~0ull) measure_last_seq_ = next_seq_;
    double wall = std::max(1e-9, double(t1_ - t0_) / 1e9);
    std::uint64_t msgs = measure_last_seq_ - measure_first_seq_;
    std::uint64_t expected = 0;
    for (std::uint64_t s = measure_first_seq_; s < measure_last_seq_; ++s) expected += expected_for(s);
    std::uint64_t drops = expected > received_measured_ ? expected - received_measured_ : 0;
    double srv1 = o_.rate > 0 && srv_cpu_pace_ >= 0 ? srv_cpu_pace_ : srv_cpu1_;
    double gen1 = o_.rate > 0 && gen_cpu_pace_ >= 0 ? gen_cpu_pace_ : gen_cpu1_;
    double srv_cpu = (srv_cpu0_ >= 0 && srv1 >= 0) ? srv1 - srv_cpu0_ : -1;
    double gen_cpu = gen1 - gen_cpu0_;
    double srv_wait = (srv_wait0_ >= 0 && srv_wait1_ >= 0) ? srv_wait1_ - srv_wait0_ : -1;
    double gen_wait = (gen_wait0_ >= 0 && gen_wait1_ >= 0) ? gen_wait1_ - gen_wait0_ : -1;
    double rate = double(received_measured_) / wall;
    std::uint64_t p50 = pct(latencies_, 50), p99 = pct(latencies_, 99), p999 = pct(latencies_, 99.9);
    std::uint64_t mx = latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
    std::uint64_t rq50 = pct(req_latencies_, 50), rq99 = pct(req_latencies_, 99);
    if (drops > 0 || duplicates_ > 0 || malformed_ > 0 || disconnects_ > 0) rc = 1;
    double gen_pct = 100.0 * gen_cpu / wall;
    std::fprintf(stderr,
                 "  %" PRIu64 " messages, %" PRIu64 " deliveries in %.3f s: %.0f deliveries/s, %.0f msg/s, p50 %.3f ms, "
                 "p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, drops %" PRIu64 ", disconnects %zu, server CPU %.2f s "
                 "(%.0f%%), generator CPU %.2f s (%.0f%%%s)\n",
                 msgs, received_measured_, wall, rate, double(msgs) / wall, double(p50) / 1e6, double(p99) / 1e6,
                 double(p999) / 1e6, double(mx) / 1e6, drops, disconnects_, srv_cpu, 100.0 * srv_cpu / wall, gen_cpu,
                 gen_pct, gen_pct >= 90 ? ": THE GENERATOR IS THE BOTTLENECK" : "");
    std::printf("RESULT mode=fanout ok=%d conns=%d channels=%d messages=%" PRIu64 " wall_s=%.4f deliveries=%" PRIu64
                " expected=%" PRIu64 " drops=%" PRIu64 " duplicates=%" PRIu64 " malformed=%" PRIu64
                " disconnects=%zu deliveries_per_s=%.0f msgs_per_s=%.1f p50_ms=%.4f p99_ms=%.4f p999_ms=%.4f "
                "max_ms=%.4f req_p50_ms=%.4f req_p99_ms=%.4f server_cpu_s=%.3f deliveries_per_server_cpu_s=%.0f "
                "msgs_per_server_cpu_s=%.1f server_cpu_pct=%.0f gen_cpu_s=%.3f gen_cpu_pct=%.0f gen_bound=%d "
                "server_runq_wait_s=%.3f gen_runq_wait_s=%.3f stalled=%d window=%d publishers=%d payload_bytes=%d "
                "rate=%.1f connect_s=%.3f\n",
                rc == 0, o_.conns, o_.channels, msgs, wall, received_measured_, expected, drops, duplicates_,
                malformed_, disconnects_, rate, double(msgs) / wall, double(p50) / 1e6, double(p99) / 1e6,
                double(p999) / 1e6, double(mx) / 1e6, double(rq50) / 1e6, double(rq99) / 1e6, srv_cpu,
                srv_cpu > 0 ? double(received_measured_) / srv_cpu : 0.0, srv_cpu > 0 ? double(msgs) / srv_cpu : 0.0,
                srv_cpu >= 0 ? 100.0 * srv_cpu / wall : -1.0, gen_cpu, gen_pct, gen_pct >= 90 ? 1 : 0, srv_wait,
                gen_wait, stalled_ ? 1 : 0, o_.window, o_.publishers, o_.payload_bytes, o_.rate, connect_s_);
    return rc;
  }

  Options o_;
  asio::io_context io_{1};
  asio::steady_timer timer_, pace_timer_, probe_timer_;
  tcp::endpoint endpoint_;
  herald::pusher::Credentials creds_;
  std::uint32_t rng_ = 0x9e3779b9u;

  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
  std::deque<Job> queue_;
  std::vector<std::uint32_t> chan_subs_;
  size_t next_connect_ = 0, targets_ = 0, failed_ = 0, disconnects_ = 0, probed_ = 0;
  std::map<std::string, int> failures_;
  int pending_pub_connects_ = 0, probe_rounds_ = 0;

  Phase phase_ = Phase::connecting;
  std::uint64_t start_ns_ = 0, phase_start_ns_ = 0, progress_ns_ = 0, last_delivery_ns_ = 0, last_eio_ping_ns_ = 0;
  std::uint64_t t0_ = 0, t1_ = 0, pace_start_ns_ = 0, paced_ = 0;
  unsigned ticks_ = 0;
  double connect_s_ = 0, verified_s_ = 0;

  std::vector<std::uint32_t> recv_count_;
  std::uint64_t next_seq_ = 0, completed_through_ = 0, in_flight_ = 0;
  std::uint64_t measure_first_seq_ = ~0ull, measure_last_seq_ = ~0ull;
  std::uint64_t received_total_ = 0, received_measured_ = 0, duplicates_ = 0, malformed_ = 0;
  std::uint64_t unexpected_frames_ = 0;
  std::vector<std::uint64_t> latencies_, req_latencies_;
  double srv_cpu0_ = -1, srv_cpu1_ = -1, gen_cpu0_ = 0, gen_cpu1_ = 0, srv_cpu_pace_ = -1, gen_cpu_pace_ = -1;
  double srv_wait0_ = -1, srv_wait1_ = -1, gen_wait0_ = -1, gen_wait1_ = -1;
  bool ok_ = true, stalled_ = false;

  long rss_before_ = -1, rss_after_ = -1;
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
            " connections");
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Bench b(std::move(o));
    return b.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
