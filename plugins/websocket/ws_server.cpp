// The websocket driver's server (ws_server.hpp). Design, in short:
// - `io_threads` event loops; each socket lives on one loop and is only touched by its thread.
// - Each loop keeps its own channel -> subscribers index, so delivery needs no lock; the
//   cluster-visible state (subscription counts, presence members) sits in one registry behind a
//   mutex (channel_registry.hpp), touched on subscribe/unsubscribe and by the bus only.
// - With `bus` set, every event and presence change also goes to Redis (redis_bus.hpp), and what
//   other nodes publish there is delivered here; see "The cluster bus" below.
// - A publish serialises each (channel, event) once into an immutable frame and posts one task
//   per loop; delivery appends a reference to each subscriber's queue, and a socket writes all
//   it has queued with one gathered write.
// - Idle sockets hold no read buffer: reads wait for readiness, then go through the loop's
//   buffer; only an incomplete frame is kept per socket.
#include "websocket/ws_server.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "common/event_envelope.hpp"
#include "common/http_client.hpp"
#include "common/prometheus_family.hpp"
#include "common/pusher/pusher_guard.hpp"
#include "common/pusher/pusher_rest.hpp"
#include "common/pusher/pusher_signing.hpp"
#include "websocket/channel_registry.hpp"
#include "websocket/console_routes.hpp"
#include "websocket/redis_bus.hpp"
#include "websocket/webhooks.hpp"  // webhooks
#include "websocket/ws_frame.hpp"

namespace herald::websocket {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using herald::sdk::LogLevel;

namespace {

constexpr std::size_t kMaxGather = 64;  // frames per gathered write
constexpr auto kHttpIdle = std::chrono::seconds(10);
constexpr auto kCloseGrace = std::chrono::seconds(2);
constexpr std::size_t kMaxUserId = 128;

void append_json(std::string& out, std::string_view text) {
  // Invalid UTF-8 cannot reach here from clients (text frames are checked); a published message
  // that is not UTF-8 is refused before a frame is built.
  plugins::http::append_json_string(out, text);
}

// {"event":E,"channel":C,"data":"D"[,"user_id":"U"]}
std::string event_json(std::string_view event, std::string_view channel, std::string_view data,
                       std::string_view user_id = {}) {
  std::string out;
  out.reserve(40 + event.size() + channel.size() + data.size() + data.size() / 8);
  out += "{\"event\":";
  append_json(out, event);
  if (!channel.empty()) {
    out += ",\"channel\":";
    append_json(out, channel);
  }
  out += ",\"data\":";
  append_json(out, data);
  if (!user_id.empty()) {
    out += ",\"user_id\":";
    append_json(out, user_id);
  }
  out += '}';
  return out;
}

std::string error_json(int code, std::string_view message) {
  std::string out = "{\"event\":\"pusher:error\",\"data\":{\"code\":" + std::to_string(code) +
                    ",\"message\":";
  append_json(out, message);
  out += "}}";
  return out;
}

std::string subscription_error_json(std::string_view channel, std::string_view type,
                                    std::string_view error, int status) {
  std::string out = "{\"event\":\"pusher:subscription_error\",\"channel\":";
  append_json(out, channel);
  out += ",\"data\":{\"type\":";
  append_json(out, type);
  out += ",\"error\":";
  append_json(out, error);
  out += ",\"status\":" + std::to_string(status) + "}}";
  return out;
}

// Sec-WebSocket-Accept: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key) {
  std::string input(key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return pusher::base64_encode(digest, sizeof digest);
}

bool is_private(std::string_view channel) { return channel.starts_with("private-"); }
bool is_presence(std::string_view channel) { return channel.starts_with("presence-"); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (plugins::http::ascii_lower(a[i]) != plugins::http::ascii_lower(b[i])) return false;
  return true;
}

// Does a comma-separated header value contain `token` (case-insensitive)?
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// ---- TLS (README.md "TLS") ----

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

constexpr std::size_t kTlsChunk = 64 * 1024;  // plaintext encrypted per write: bounds `out`

// OpenSSL's reason for a failure (the first queued: the root cause; never file contents), and
// the error queue cleared.
std::string ssl_reason() {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

// ALPN: http/1.1 when the client offers it; no ALPN answer otherwise.
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
SslCtxPtr load_tls_context(const std::string& cert, const std::string& key) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw std::runtime_error("cannot create a TLS context: " + ssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No session tickets or cache: nothing to resume, nothing sent after the handshake.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Idle connections keep no record buffers.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  // An encrypted key must not make OpenSSL prompt on the terminal: it fails instead.
  SSL_CTX_set_default_passwd_cb(ctx.get(), [](char*, int, int, void*) { return 0; });
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1)
    throw std::runtime_error("cannot load tls_cert `" + cert + "`: " + ssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("cannot load tls_key `" + key + "`: " + ssl_reason() +
                             " (an unencrypted PEM private key is expected)");
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("tls_key `" + key + "` does not match tls_cert `" + cert + "`");
  }
  return ctx;
}

// What tells a replaced file: identity, size and times (compared, never interpreted).
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size,
          std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          std::int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

}  // namespace

struct Session;
struct Loop;

struct Delivery {
  std::string channel;
  Frame frame;
  std::uint64_t exclude = 0;  // a socket's sequence number, 0 = nobody
  std::string exclude_socket;  // its socket_id, for the other nodes (empty = nobody)
};
using Deliveries = std::shared_ptr<const std::vector<Delivery>>;

struct LocalChannel {
  std::vector<Session*> subscribers;
};

struct Subscription {
  std::string channel;
  LocalChannel* local = nullptr;  // node of Loop::channels: stable while it has subscribers
  std::size_t index = 0;          // position in local->subscribers
  std::string user_id;            // presence channels
};

struct Counters {
  std::atomic<std::uint64_t> connections{0}, connections_total{0}, refused{0}, delivered{0},
      bytes_sent{0}, slow{0}, client_events{0}, auth_failures{0}, protocol_errors{0},
      rest_requests{0}, subscriptions{0}, tls_handshake_failures{0};
};


struct Loop {
  explicit Loop(Server::Impl& s) : server(s), tick(ctx) {}
  Server::Impl& server;
  asio::io_context ctx{1};
  asio::steady_timer tick;
  std::thread thread;
  std::unordered_map<std::string, LocalChannel> channels;
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions;
  std::array<char, 64 * 1024> read_buffer{};
  std::string scratch;                // an unmasked payload
  std::array<char, 17 * 1024> tls_raw{};  // TLS: ciphertext read, at once fed to OpenSSL
  std::string tls_plain;                  // TLS: small frames gathered into one record
  std::vector<Session*> slow;         // found slow during a delivery, closed after it
  std::vector<std::shared_ptr<Session>> dirty;  // sockets with queued frames to flush
  void mark_dirty(std::shared_ptr<Session> s) { dirty.push_back(std::move(s)); }
  void flush();
  // The loop's thread: each turn runs what is ready (handlers and I/O, at most kTurnHandlers),
  // then flushes every socket that got frames in that turn. Events that arrive together (a burst
  // of publish requests, several loops' deliveries) leave in one write per socket; an idle loop
  // flushes right after the one handler that queued something.
  void run() {
    auto work = asio::make_work_guard(ctx);
    while (ctx.run_one() != 0) {
      for (int i = 0; i < kTurnHandlers && ctx.poll_one() != 0; ++i) {
      }
      if (!dirty.empty()) flush();
    }
  }
  static constexpr int kTurnHandlers = 256;
  void deliver(const std::vector<Delivery>& items);
  void on_tick();
};

struct Server::Impl {
  Impl(const herald::sdk::Host& h, Settings s);
  ~Impl();

  herald::sdk::Host host;
  Settings settings;
  pusher::Credentials credentials;
  std::uint64_t node = random_node_id();  // the socket_id's first number; the node's bus id
  std::atomic<std::uint64_t> next_seq{1};
  std::vector<std::unique_ptr<Loop>> loops;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::atomic<std::size_t> next_loop{0};
  std::uint16_t bound_port = 0;
  Counters counters;
  std::atomic<std::size_t> ws_connections{0};
  std::atomic<Clock::rep> last_slow_log{0};
  std::atomic<Clock::rep> last_accept_log{0};
  mutable std::mutex accept_mutex;
  std::string accept_problem;  // the last accept error while accepting fails, else empty

  // TLS: the context for new connections, swapped when the files change (maybe_reload). Only
  // the acceptor's thread (loops[0]) touches these once the loops run; each connection's SSL
  // holds its own reference to the context it started with.
  SslCtxPtr tls_ctx;
  FileStamp tls_cert_stamp, tls_key_stamp;
  void maybe_reload_tls();

  // webhooks: Pusher webhooks; null when none are configured. Declared before `bus` and the
  // registry so that it outlives whatever reports changes to it.
  std::unique_ptr<Webhooks> webhooks;
  mutable std::mutex registry_mutex;
  ChannelRegistry registry{node};  // cluster-wide when a bus is set; guarded by registry_mutex
  std::unique_ptr<RedisBus> bus;  // `bus`: the other nodes; null for a single node
  // When the bus came up, plus a heartbeat: the others' state has arrived (steady clock ticks).
  std::atomic<Clock::rep> bus_synced_at{std::numeric_limits<Clock::rep>::max()};
  // The webhooks of a registry change, from the node that sends them (registry_mutex held).
  void webhooks_locked(const Changes& changes);

  static std::uint64_t random_node_id() {
    std::random_device rd;
    return std::uniform_int_distribution<std::uint64_t>(1, 999'999'999)(rd);
  }

  void log(LogLevel level, const std::string& message) const {
    if (host.raw() != nullptr && host.log_enabled(level)) host.log(level, message);
  }
  void accept();
  // To this node's subscribers.
  void deliver_local(std::vector<Delivery> items) {
    auto shared = std::make_shared<const std::vector<Delivery>>(std::move(items));
    for (auto& loop : loops)
      asio::post(loop->ctx, [l = loop.get(), shared] { l->deliver(*shared); });
  }
  // To every subscriber in the cluster (except each item's excluded socket).
  void broadcast(std::vector<Delivery> items);
  // Member and occupancy changes of the cluster: member_added/member_removed to this node's
  // subscribers (never to the socket `exclude`).
  void on_changes(const Changes& changes, std::uint64_t exclude);
  // A user's first (present) or last (absent) socket on this node joined or left a presence
  // channel: the other nodes learn it.
  void tell_member(const std::string& channel, const std::string& user_id, const json::value& info,
                   bool present);
  // This node's subscription counts that changed go to the others: every 100 ms, and at once
  // (`urgent`) when a channel gained its first or lost its last local socket.
  void tell_counts(bool urgent);
  void start_bus();
  void on_bus_message(std::string_view message);
  void send_state();
  std::string metrics_text() const;

  // The Pusher HTTP API (rest_api section below): status and JSON body.
  struct Reply {
    int status = 200;
    std::string body;
  };
  Reply rest(std::string_view method, std::string_view path, std::string_view query,
             std::string_view body);
  std::optional<std::string> verify_signature(std::string_view method, std::string_view path,
                                              std::string_view query, std::string_view body) const;
  Reply publish_events(const json::array& events, bool batch);
  json::object channel_info(std::string_view channel, bool subscriptions, bool users) const;

  // Occupied channels whose name starts with `prefix`, sorted by name, with their subscription
  // and (presence) user counts. The one source of the REST channel queries and the console.
  using ChannelCount = ChannelRegistry::ChannelCount;
  std::vector<ChannelCount> channel_counts(std::string_view prefix) const {
    std::lock_guard lock(registry_mutex);
    return registry.channels(prefix);
  }
  // Open WebSocket connections.
  std::size_t connection_count() const { return ws_connections.load(std::memory_order_relaxed); }
  std::optional<ConsoleContext> console;  // the live console (console_routes.hpp), when enabled
  std::uint64_t excluded_seq(std::string_view socket_id) const;

  std::size_t rest_body_limit() const {
    return settings.max_message_bytes * 24 + 64 * 1024;  // 10 events of escaped data + names
  }
};

// ---------------------------------------------------------------------------------------------
// One TCP connection: HTTP first (REST requests or the WebSocket upgrade), then WebSocket.

struct Session : std::enable_shared_from_this<Session> {
  Session(Loop& l, tcp::socket s, SslPtr ssl = {})
      : loop(l), server(l.server), socket(std::move(s)) {
    if (ssl) tls = std::make_unique<Tls>(std::move(ssl));
  }

  enum class Phase { http, websocket, closing, closed };

  Loop& loop;
  Server::Impl& server;
  tcp::socket socket;
  Phase phase = Phase::http;
  Clock::time_point last_rx = Clock::now();
  Clock::time_point ping_sent{};
  Clock::time_point close_deadline{};

  struct HttpState {
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    http::response<http::string_body> response;
    std::string raw;  // the 101 response
  };
  std::unique_ptr<HttpState> http_state = std::make_unique<HttpState>();

  std::uint64_t seq = 0;
  std::string socket_id;
  bool counted = false;  // in ws_connections
  bool slow = false;
  bool dirty = false;    // in loop.dirty, waiting for the loop's flush
  bool close_sent = false;
  std::string partial;  // bytes of an incomplete frame
  std::string fragments;  // a fragmented message being assembled
  bool in_message = false;
  Opcode message_op = Opcode::text;
  std::vector<Subscription> subs;
  std::optional<std::string> signed_in_user;
  Clock::time_point rate_window{};
  int rate_count = 0;

  std::vector<Frame> queue;  // [0, writing_count) is being written
  std::size_t head_offset = 0;  // bytes of queue[0] already sent by a direct write
  std::size_t queued_bytes = 0;  // not yet sent
  bool writing = false;
  std::size_t writing_count = 0;
  std::vector<asio::const_buffer> gather;

  // ---- TLS ----
  // A TLS connection runs OpenSSL over memory BIOs on the same non-blocking socket and loop:
  // ciphertext read from the socket goes into `rbio` (at most one Loop::tls_raw at a time),
  // plaintext frames are encrypted at most kTlsChunk at a time and only once the previous
  // ciphertext (`out`) has left, so the send queue (plaintext, send_queue_bytes) stays the bound
  // and a client that stops reading is closed as a slow consumer exactly as in plain text. Plain
  // connections have `tls` null and take none of these paths.
  struct Tls {
    explicit Tls(SslPtr s) : ssl(std::move(s)) {
      rbio = BIO_new(BIO_s_mem());
      wbio = BIO_new(BIO_s_mem());
      if (rbio == nullptr || wbio == nullptr) {
        BIO_free(rbio);
        BIO_free(wbio);
        throw std::bad_alloc();
      }
      BIO_set_mem_eof_return(rbio, -1);  // empty: "want read", not EOF
      SSL_set_bio(ssl.get(), rbio, wbio);  // owned by the SSL from here
      SSL_set_accept_state(ssl.get());
    }
    SslPtr ssl;
    BIO* rbio = nullptr;
    BIO* wbio = nullptr;
    std::string out;  // ciphertext not yet taken by the kernel, from out_pos
    std::size_t out_pos = 0;
    bool established = false;
    Clock::time_point started = Clock::now();
  };
  std::unique_ptr<Tls> tls;

  // The stream Beast's HTTP reads and writes use on a TLS connection (AsyncReadStream and
  // AsyncWriteStream over the session's TLS state).
  struct TlsStream {
    Session* session;
    using executor_type = tcp::socket::executor_type;
    executor_type get_executor() { return session->socket.get_executor(); }
    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
      return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
          [s = session](auto handler, const MutableBuffers& b) {
            s->tls_async_read_some(b, std::move(handler));
          },
          token, buffers);
    }
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
      return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
          [s = session](auto handler, const ConstBuffers& b) {
            s->tls_async_write_some(b, std::move(handler));
          },
          token, buffers);
    }
  };
  TlsStream tls_stream{this};

  static bool would_block(const boost::system::error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
  }

  bool tls_out_empty() const {
    return tls->out_pos == tls->out.size() && BIO_ctrl_pending(tls->wbio) == 0;
  }

  // Hands the kernel what OpenSSL produced, without blocking. False on a socket error.
  bool tls_send(boost::system::error_code& ec) {
    Tls& t = *tls;
    if (const std::size_t pending = BIO_ctrl_pending(t.wbio); pending != 0) {
      if (t.out_pos == t.out.size()) {
        t.out.clear();
        t.out_pos = 0;
      }
      const std::size_t old = t.out.size();
      t.out.resize(old + pending);
      const int got = BIO_read(t.wbio, t.out.data() + old, static_cast<int>(pending));
      t.out.resize(old + static_cast<std::size_t>(std::max(got, 0)));
    }
    while (t.out_pos < t.out.size()) {
      const std::size_t n =
          socket.write_some(asio::buffer(t.out.data() + t.out_pos, t.out.size() - t.out_pos), ec);
      if (would_block(ec)) {
        ec = {};
        return true;
      }
      if (ec) return false;
      t.out_pos += n;
    }
    t.out.clear();
    t.out_pos = 0;
    if (t.out.capacity() > kTlsChunk * 2) std::string().swap(t.out);
    return true;
  }

  // Calls done(ec) once every byte of ciphertext has left (or the socket failed).
  template <class Done>
  void tls_when_sent(Done done) {
    boost::system::error_code ec;
    if (!tls_send(ec) || tls_out_empty())
      return asio::post(socket.get_executor(),
                        [d = std::move(done), ec]() mutable { d(ec); });
    socket.async_wait(tcp::socket::wait_write,
                      [self = shared_from_this(), d = std::move(done)](
                          boost::system::error_code e) mutable {
                        if (e || self->phase == Phase::closed)
                          return d(e ? e : asio::error::operation_aborted);
                        self->tls_when_sent(std::move(d));
                      });
  }

  // Sends what the handshake (or an alert, a key update) produced; a rest the kernel did not
  // take leaves later (tls_when_sent) unless a write is under way, which sends it first.
  bool tls_push(boost::system::error_code& ec) {
    if (!tls_send(ec)) return false;
    tls_drain();  // the WebSocket writer waits for it: `out` is sent in order
    return true;
  }

  // Plaintext into [data, data + size) without blocking: > 0 bytes, or 0 with `ec` (would_block:
  // wait for the socket; eof: the peer closed; other: a TLS failure, the connection is done).
  std::size_t tls_read(char* data, std::size_t size, boost::system::error_code& ec) {
    Tls& t = *tls;
    for (;;) {
      std::size_t n = 0;
      ERR_clear_error();
      const int r = SSL_read_ex(t.ssl.get(), data, size, &n);
      const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t.ssl.get(), r);
      if (!t.established && SSL_is_init_finished(t.ssl.get())) t.established = true;
      if (err != SSL_ERROR_SSL && err != SSL_ERROR_SYSCALL && !tls_push(ec)) return 0;
      if (r == 1) return n;
      if (err == SSL_ERROR_WANT_READ) {
        const std::size_t got = socket.read_some(asio::buffer(loop.tls_raw), ec);
        if (ec) return 0;  // would_block included
        if (got == 0) {
          ec = asio::error::eof;
          return 0;
        }
        BIO_write(t.rbio, loop.tls_raw.data(), static_cast<int>(got));
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify
        ec = asio::error::eof;
        return 0;
      }
      tls_failed();
      ec = asio::error::connection_aborted;
      return 0;
    }
  }

  // A failed handshake or a broken record. A plain HTTP request to the TLS port gets a plain
  // answer saying so (best effort), then the connection is closed by the caller.
  void tls_failed() {
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    boost::system::error_code ignored;
    const bool plain_http = ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST;
    if (!plain_http) tls_send(ignored);  // the alert, if OpenSSL made one
    if (!tls->established) {
      server.counters.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      if (plain_http) {
        static constexpr std::string_view kPlain =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
            "Content-Length: 61\r\n\r\n{\"error\":\"this port speaks TLS only: use https:// or wss://\"}";
        socket.write_some(asio::buffer(kPlain.data(), kPlain.size()), ignored);
        socket.shutdown(tcp::socket::shutdown_send, ignored);  // FIN after it, before close
      }
    }
  }

  // Has OpenSSL plaintext, or ciphertext not yet decrypted, that no socket readiness announces?
  bool tls_buffered() const {
    return tls && (SSL_pending(tls->ssl.get()) > 0 || BIO_ctrl_pending(tls->rbio) > 0);
  }

  template <class MutableBuffers, class Handler>
  void tls_async_read_some(const MutableBuffers& buffers, Handler handler) {
    const asio::mutable_buffer b = beast::buffers_front(buffers);
    boost::system::error_code ec;
    std::size_t n = 0;
    if (phase == Phase::closed) ec = asio::error::operation_aborted;
    else if (b.size() != 0) n = tls_read(static_cast<char*>(b.data()), b.size(), ec);
    if (n != 0 || b.size() == 0 || (ec && !would_block(ec)))
      return asio::post(socket.get_executor(),
                        [h = std::move(handler), ec, n]() mutable { h(ec, n); });
    socket.async_wait(tcp::socket::wait_read,
                      [self = shared_from_this(), buffers, h = std::move(handler)](
                          boost::system::error_code e) mutable {
                        if (e) return h(e, std::size_t{0});
                        self->tls_async_read_some(buffers, std::move(h));
                      });
  }

  // Encrypts at most kTlsChunk of `buffers` (only once `out` is empty); the plaintext count.
  template <class ConstBuffers>
  std::size_t tls_encrypt(const ConstBuffers& buffers) {
    std::string& plain = loop.tls_plain;
    plain.clear();
    const char* data = nullptr;
    std::size_t size = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      const asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      const std::size_t take = std::min(b.size(), kTlsChunk - (size + plain.size()));
      if (data == nullptr && plain.empty()) {
        data = static_cast<const char*>(b.data());  // one buffer: encrypted in place
        size = take;
      } else {
        if (data != nullptr) {
          plain.assign(data, size);
          data = nullptr;
          size = 0;
        }
        plain.append(static_cast<const char*>(b.data()), take);
      }
      if (size + plain.size() >= kTlsChunk) break;
    }
    if (data == nullptr) {
      data = plain.data();
      size = plain.size();
    }
    if (size == 0) return 0;
    std::size_t written = 0;
    ERR_clear_error();
    // Memory BIOs take everything: a failure here is a broken session.
    if (SSL_write_ex(tls->ssl.get(), data, size, &written) != 1) {
      ERR_clear_error();
      return 0;
    }
    if (plain.capacity() > kTlsChunk * 2) std::string().swap(plain);
    return written;
  }

  template <class ConstBuffers, class Handler>
  void tls_async_write_some(const ConstBuffers& buffers, Handler handler) {
    tls_when_sent([self = shared_from_this(), buffers, h = std::move(handler)](
                      boost::system::error_code ec) mutable {
      if (ec) return h(ec, std::size_t{0});
      const std::size_t n = self->tls_encrypt(buffers);
      if (n == 0 && asio::buffer_size(buffers) != 0)
        return h(asio::error::connection_aborted, std::size_t{0});
      self->tls_when_sent([h = std::move(h), n](boost::system::error_code e) mutable {
        h(e, e ? 0 : n);
      });
    });
  }

  // The WebSocket writer's non-blocking write: plaintext taken (encrypted and, as far as the
  // kernel allows, sent); would_block while older ciphertext is still waiting.
  std::size_t tls_write_some(std::span<const asio::const_buffer> buffers,
                             boost::system::error_code& ec) {
    if (!tls_send(ec)) return 0;
    if (!tls_out_empty()) {
      ec = asio::error::would_block;
      return 0;
    }
    const std::size_t n = tls_encrypt(buffers);
    if (n == 0) {
      ec = asio::error::connection_aborted;
      return 0;
    }
    tls_send(ec);
    return n;
  }

  // The read and write the WebSocket phase uses: the socket's, or through TLS.
  std::size_t io_read_some(boost::system::error_code& ec) {
    if (tls) return tls_read(loop.read_buffer.data(), loop.read_buffer.size(), ec);
    return socket.read_some(asio::buffer(loop.read_buffer), ec);
  }
  std::size_t io_write_some(boost::system::error_code& ec) {
    if (tls) return tls_write_some(std::span<const asio::const_buffer>(gather), ec);
    return socket.write_some(std::span<const asio::const_buffer>(gather), ec);
  }
  // After the close frame: a TLS close_notify (best effort), then FIN.
  void shutdown_send() {
    boost::system::error_code ignored;
    if (tls && tls->established) {
      ERR_clear_error();
      SSL_shutdown(tls->ssl.get());
      ERR_clear_error();
      tls_send(ignored);
    }
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  // ---- HTTP ----

  void start() {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    if (tls) socket.non_blocking(true, ec);  // TLS reads and writes never block the loop
    read_request();
  }

  void read_request() {
    auto& st = *http_state;
    st.parser.emplace();
    st.parser->header_limit(16 * 1024);
    st.parser->body_limit(server.rest_body_limit());
    auto done = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->on_request(ec);
    };
    if (tls)
      http::async_read(tls_stream, st.buffer, *st.parser, std::move(done));
    else
      http::async_read(socket, st.buffer, *st.parser, std::move(done));
  }

  void on_request(boost::system::error_code ec) {
    if (phase == Phase::closed) return;
    if (ec) {
      if (ec == http::error::body_limit) return respond_error(413, "request body too large", false);
      if (ec == http::error::header_limit) return respond_error(431, "headers too large", false);
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
          ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::connection_aborted)  // TLS: a failed handshake or record
        return close_now();
      return respond_error(400, "malformed HTTP request", false);
    }
    last_rx = Clock::now();
    const auto& req = http_state->parser->get();
    const std::string_view target(req.target().data(), req.target().size());
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    if (path.starts_with("/app/")) return upgrade(path.substr(5));
    if (path.starts_with("/apps/")) {
      server.counters.rest_requests.fetch_add(1, std::memory_order_relaxed);
      const std::string_view method(req.method_string().data(), req.method_string().size());
      Server::Impl::Reply r = server.rest(method, path, query, req.body());
      return respond(r.status, std::move(r.body), req.keep_alive());
    }
    if (server.console && is_console_path(path)) {
      auto field = [&](http::field f) {
        auto it = req.find(f);
        return it == req.end() ? std::string_view{}
                               : std::string_view(it->value().data(), it->value().size());
      };
      ConsoleReply r = handle_console(
          *server.console, {std::string_view(req.method_string().data(), req.method_string().size()),
                            path, field(http::field::host), field(http::field::authorization),
                            req.body()});
      return respond(r.status, std::move(r.body), req.keep_alive(), r.content_type, r.headers);
    }
    respond_error(404, "not found: WebSocket clients connect to /app/{key}, the Pusher HTTP API is "
                       "at /apps/{app_id}/...",
                  req.keep_alive());
  }

  void respond(int status, std::string body, bool keep_alive,
               std::string_view content_type = "application/json",
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto& res = http_state->response;
    res = {};
    res.result(static_cast<http::status>(status));
    res.version(11);
    res.set(http::field::server, "herald");
    res.set(http::field::content_type, content_type);
    for (const auto& [name, value] : headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    auto done = [self = shared_from_this(), keep_alive](boost::system::error_code ec,
                                                        std::size_t n) {
      self->server.counters.bytes_sent.fetch_add(n, std::memory_order_relaxed);
      if (ec || !keep_alive || self->phase == Phase::closed) return self->close_now();
      self->read_request();
    };
    if (tls)
      http::async_write(tls_stream, res, std::move(done));
    else
      http::async_write(socket, res, std::move(done));
  }

  void respond_error(int status, std::string_view message, bool keep_alive) {
    std::string body = "{\"error\":";
    append_json(body, message);
    body += '}';
    respond(status, std::move(body), keep_alive);
  }

  void upgrade(std::string_view app_key) {
    const auto& req = http_state->parser->get();
    auto header = [&](http::field f) {
      auto it = req.find(f);
      return it == req.end() ? std::string_view{}
                             : std::string_view(it->value().data(), it->value().size());
    };
    const std::string_view key = trim(header(http::field::sec_websocket_key));
    if (req.method() != http::verb::get || !has_token(header(http::field::connection), "upgrade") ||
        !iequals(trim(header(http::field::upgrade)), "websocket") || key.empty())
      return respond_error(400, "expected a WebSocket upgrade (GET with Upgrade: websocket)", false);
    if (trim(header(http::field::sec_websocket_version)) != "13")
      return respond_error(426, "unsupported WebSocket version; use 13", false);
    if (!server.settings.allowed_origins.empty()) {
      const std::string_view origin = header(http::field::origin);
      bool ok = false;
      for (const auto& o : server.settings.allowed_origins) ok = ok || origin == o;
      if (!ok) return respond_error(403, "origin not allowed", false);
    }
    auto& raw = http_state->raw;
    raw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: " +
          websocket_accept(key) + "\r\n\r\n";
    const bool known_app = app_key == server.settings.key;
    auto done = [self = shared_from_this(), known_app](boost::system::error_code ec, std::size_t) {
      if (ec) return self->close_now();
      self->opened(known_app);
    };
    if (tls)
      asio::async_write(tls_stream, asio::buffer(raw), std::move(done));
    else
      asio::async_write(socket, asio::buffer(raw), std::move(done));
  }

  // ---- WebSocket ----

  void opened(bool known_app) {
    if (phase == Phase::closed) return;
    // Bytes the client sent after the upgrade request belong to the WebSocket stream.
    auto data = http_state->buffer.data();
    partial.assign(static_cast<const char*>(data.data()), data.size());
    http_state.reset();
    phase = Phase::websocket;
    last_rx = Clock::now();
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    seq = server.next_seq.fetch_add(1, std::memory_order_relaxed);
    socket_id = std::to_string(server.node) + "." + std::to_string(seq);
    if (!known_app) {
      send_text(error_json(close_code::no_such_app, "Application does not exist"));
      close_with(close_code::no_such_app, "Application does not exist");
      return arm_read();  // to see the client's close (or EOF) at once
    }
    const std::size_t limit = server.settings.max_connections;
    const std::size_t now_open = server.ws_connections.fetch_add(1, std::memory_order_relaxed);
    if (limit != 0 && now_open >= limit) {
      server.ws_connections.fetch_sub(1, std::memory_order_relaxed);  // a refusal takes no slot
      server.counters.refused.fetch_add(1, std::memory_order_relaxed);
      send_text(error_json(close_code::over_capacity, "Over capacity"));
      close_with(close_code::over_capacity, "Over capacity");
      return arm_read();
    }
    counted = true;
    server.counters.connections_total.fetch_add(1, std::memory_order_relaxed);
    std::string data_text = "{\"socket_id\":\"" + socket_id +
                            "\",\"activity_timeout\":" +
                            std::to_string(server.settings.activity_timeout_s) + "}";
    send_text(event_json("pusher:connection_established", {}, data_text));
    if (!partial.empty()) {
      std::string pending;
      pending.swap(partial);
      if (!consume(pending.data(), pending.size())) return;
    }
    arm_read();
  }

  void arm_read() {
    if (tls_buffered())  // TLS: bytes already inside OpenSSL; the socket may never signal them
      return asio::post(socket.get_executor(),
                        [self = shared_from_this()] { self->on_readable({}); });
    socket.async_wait(tcp::socket::wait_read,
                      [self = shared_from_this()](boost::system::error_code ec) {
                        self->on_readable(ec);
                      });
  }

  void on_readable(boost::system::error_code ec) {
    if (phase == Phase::closed) return;
    if (ec) return close_now();
    for (int round = 0; round < 8; ++round) {
      const std::size_t n = io_read_some(ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec || n == 0) return close_now();
      if (!consume(loop.read_buffer.data(), n)) return;
      if (n < loop.read_buffer.size()) break;
    }
    arm_read();
  }

  // Parses every complete frame; keeps an incomplete one. False when the session ended.
  bool consume(const char* data, std::size_t n) {
    const bool buffered = !partial.empty();
    if (buffered) partial.append(data, n);
    const auto* p = reinterpret_cast<const unsigned char*>(buffered ? partial.data() : data);
    const std::size_t size = buffered ? partial.size() : n;
    std::size_t pos = 0;
    while (pos < size && (phase == Phase::websocket || phase == Phase::closing)) {
      FrameHeader h;
      const ParseResult r =
          parse_frame_header(p + pos, size - pos, server.settings.max_message_bytes, h);
      if (r == ParseResult::need_more) break;
      if (r == ParseResult::protocol_error) {
        fail(close_code::protocol_error, "protocol error");
        return false;
      }
      if (r == ParseResult::too_big) {
        fail(close_code::too_big, "message too big");
        return false;
      }
      if (size - pos - h.header_size < h.payload_size) break;
      last_rx = Clock::now();
      ping_sent = {};
      std::string& text = loop.scratch;
      text.resize(h.payload_size);
      unmask(p + pos + h.header_size, h.payload_size, h.mask, text.data());
      pos += h.header_size + h.payload_size;
      if (!on_frame(h, text)) return false;
    }
    if (phase == Phase::closed) return false;
    if (buffered) {
      partial.erase(0, pos);
    } else if (pos < size) {
      partial.assign(data + pos, size - pos);
    }
    if (partial.empty() && partial.capacity() > 256) std::string().swap(partial);
    return true;
  }

  bool on_frame(const FrameHeader& h, std::string& payload) {
    switch (h.opcode) {
      case Opcode::ping:
        enqueue(make_frame(Opcode::pong, payload));
        return true;
      case Opcode::pong:
        return true;
      case Opcode::close:
        if (phase == Phase::closing) {
          close_now();
          return false;
        }
        // Echo the client's code (RFC 6455 5.5.1), then end the connection.
        close_with(payload.size() >= 2 ? std::uint16_t((std::uint8_t(payload[0]) << 8) |
                                                       std::uint8_t(payload[1]))
                                       : close_code::normal,
                   {});
        return phase != Phase::closed;
      case Opcode::continuation:
        if (!in_message) {
          fail(close_code::protocol_error, "continuation without a message");
          return false;
        }
        if (fragments.size() + payload.size() > server.settings.max_message_bytes) {
          fail(close_code::too_big, "message too big");
          return false;
        }
        fragments += payload;
        if (!h.fin) return true;
        in_message = false;
        {
          std::string whole;
          whole.swap(fragments);
          return complete(message_op, whole);
        }
      case Opcode::text:
      case Opcode::binary:
        if (in_message) {
          fail(close_code::protocol_error, "a new message inside a fragmented one");
          return false;
        }
        if (!h.fin) {
          in_message = true;
          message_op = h.opcode;
          fragments = payload;
          return true;
        }
        return complete(h.opcode, payload);
    }
    return true;
  }

  bool complete(Opcode op, std::string_view text) {
    if (phase != Phase::websocket) return true;  // closing: data is ignored
    if (op == Opcode::binary) {
      protocol_error("binary frames are not supported; send JSON text");
      return true;
    }
    if (!valid_utf8(text)) {
      fail(close_code::bad_data, "invalid UTF-8");
      return false;
    }
    on_message(text);
    return phase != Phase::closed;
  }

  void protocol_error(std::string_view message) {
    server.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    send_text(error_json(4200, message));
  }

  // ---- Pusher protocol ----

  void on_message(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr) return protocol_error("messages must be JSON objects with an `event`");
    const json::value* ev = o->if_contains("event");
    if (ev == nullptr || !ev->is_string()) return protocol_error("`event` must be a string");
    const std::string_view event = ev->get_string();
    // Client-to-server data is an object; a JSON string holding one is accepted too.
    json::value data;
    if (const json::value* d = o->if_contains("data")) {
      if (const json::string* s = d->if_string()) {
        json::value inner = json::parse(*s, ec);
        data = ec ? json::value(*s) : std::move(inner);
        ec = {};
      } else {
        data = *d;
      }
    }
    if (event == "pusher:ping") return send_text("{\"event\":\"pusher:pong\",\"data\":{}}");
    if (event == "pusher:pong") return;
    if (event == "pusher:subscribe") return subscribe(data);
    if (event == "pusher:unsubscribe") {
      const json::object* d = data.if_object();
      const json::value* ch = d ? d->if_contains("channel") : nullptr;
      if (ch == nullptr || !ch->is_string()) return protocol_error("`channel` must be a string");
      unsubscribe(ch->get_string());
      return;
    }
    if (event == "pusher:signin") return signin(data);
    if (event.starts_with("client-")) return client_event(*o, event);
    protocol_error("unknown event `" + plugins::http::one_line(event, 64) + "`");
  }

  Subscription* find_sub(std::string_view channel) {
    for (auto& s : subs)
      if (s.channel == channel) return &s;
    return nullptr;
  }

  void subscription_error(std::string_view channel, std::string_view type, std::string_view error,
                          int status) {
    if (type == "AuthError") server.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
    send_text(subscription_error_json(channel, type, error, status));
  }

  void subscribe(const json::value& data) {
    const json::object* d = data.if_object();
    const json::value* ch = d ? d->if_contains("channel") : nullptr;
    if (ch == nullptr || !ch->is_string()) return protocol_error("`channel` must be a string");
    const std::string channel(ch->get_string());
    if (channel.size() > pusher::kMaxChannelName)
      return subscription_error(channel, "LimitReached",
                                "The channel name is longer than the allowed 200 characters.",
                                4009);
    if (!pusher::valid_channel(channel))
      return subscription_error(channel, "LimitReached",
                                "The channel name may only hold A-Z a-z 0-9 _ - = @ , . ;", 4009);
    const bool presence = is_presence(channel);
    std::string channel_data;
    if (is_private(channel) || presence) {
      const json::value* auth = d->if_contains("auth");
      std::string expected_input;
      if (presence) {
        const json::value* cd = d->if_contains("channel_data");
        if (cd == nullptr || !cd->is_string())
          return subscription_error(channel, "AuthError",
                                    "Presence channels need `channel_data`.", 401);
        channel_data = std::string(cd->get_string());
      }
      const std::string expected =
          pusher::channel_auth(server.credentials, socket_id, channel, channel_data);
      if (auth == nullptr || !auth->is_string() ||
          !pusher::constant_time_equals(auth->get_string(), expected))
        return subscription_error(channel, "AuthError", "The connection is unauthorized.", 401);
    }
    if (Subscription* existing = find_sub(channel)) {
      (void)existing;  // already subscribed: answer again, change nothing
      return send_text(event_json("pusher_internal:subscription_succeeded", channel,
                                  presence ? presence_data(channel) : std::string("{}")));
    }
    if (subs.size() >= server.settings.max_channels_per_connection)
      return subscription_error(channel, "LimitReached",
                                "The maximum number of channels per connection (" +
                                    std::to_string(server.settings.max_channels_per_connection) +
                                    ") has been reached.",
                                4100);
    std::string user_id;
    json::value user_info;
    if (presence) {
      boost::system::error_code ec;
      json::value parsed = json::parse(channel_data, ec);
      const json::object* cd = ec ? nullptr : parsed.if_object();
      const json::value* uid = cd ? cd->if_contains("user_id") : nullptr;
      if (uid != nullptr && uid->is_string())
        user_id = std::string(uid->get_string());
      else if (uid != nullptr && (uid->is_int64() || uid->is_uint64()))
        user_id = json::serialize(*uid);
      if (user_id.empty() || user_id.size() > kMaxUserId)
        return subscription_error(channel, "AuthError",
                                  "`channel_data` must hold a `user_id` (1..128 characters).",
                                  401);
      if (const json::value* info = cd->if_contains("user_info")) {
        if (json::serialize(*info).size() > server.settings.presence_max_user_info_bytes)
          return subscription_error(
              channel, "LimitReached",
              "The maximum size for a channel member is " +
                  std::to_string(server.settings.presence_max_user_info_bytes) + " bytes.",
              4301);
        user_info = *info;
      }
    }
    std::string succeeded = "{}";
    Changes changes;
    bool new_local_member = false;
    bool occupancy_changed = false;
    {
      std::lock_guard lock(server.registry_mutex);
      new_local_member = presence && !server.registry.has_local_member(channel, user_id);
      if (server.registry.join(channel, user_id, user_info, server.settings.presence_max_members,
                               changes) == ChannelRegistry::Join::members_full)
        return subscription_error(channel, "LimitReached",
                                  "The maximum members amount has been reached.", 4100);
      if (presence) succeeded = presence_data_locked(channel);
      occupancy_changed = server.registry.occupancy_changed();
      server.webhooks_locked(changes);
    }
    server.on_changes(changes, seq);
    if (new_local_member) server.tell_member(channel, user_id, user_info, true);
    if (occupancy_changed) server.tell_counts(true);
    server.counters.subscriptions.fetch_add(1, std::memory_order_relaxed);
    LocalChannel& local = loop.channels[channel];
    subs.push_back({channel, &local, local.subscribers.size(), user_id});
    local.subscribers.push_back(this);
    send_text(event_json("pusher_internal:subscription_succeeded", channel, succeeded));
  }

  std::string presence_data(const std::string& channel) {
    std::lock_guard lock(server.registry_mutex);
    return presence_data_locked(channel);
  }

  // The cluster's members of `channel` (registry_mutex held).
  std::string presence_data_locked(const std::string& channel) {
    json::array ids;
    json::object hash;
    std::size_t count = 0;
    for (auto& [id, info] : server.registry.members(channel)) {
      ids.emplace_back(id);
      hash[id] = std::move(info);
      ++count;
    }
    json::object presence;
    presence["count"] = count;
    presence["ids"] = std::move(ids);
    presence["hash"] = std::move(hash);
    json::object out;
    out["presence"] = std::move(presence);
    return json::serialize(out);
  }

  void unsubscribe(std::string_view channel) {
    for (std::size_t i = 0; i < subs.size(); ++i) {
      if (subs[i].channel != channel) continue;
      leave(subs[i]);
      subs[i] = std::move(subs.back());
      subs.pop_back();
      return;
    }
  }

  // Removes this socket from one channel: the loop's index and the registry.
  void leave(Subscription& sub) {
    LocalChannel& local = *sub.local;
    const std::size_t i = sub.index;
    Session* moved = local.subscribers.back();
    local.subscribers[i] = moved;
    local.subscribers.pop_back();
    if (moved != this) {
      for (auto& s : moved->subs)
        if (s.local == &local) s.index = i;
    }
    if (local.subscribers.empty()) loop.channels.erase(sub.channel);
    server.counters.subscriptions.fetch_sub(1, std::memory_order_relaxed);
    Changes changes;
    bool last_local_socket = false;
    bool occupancy_changed = false;
    {
      std::lock_guard lock(server.registry_mutex);
      server.registry.leave(sub.channel, sub.user_id, changes);
      last_local_socket =
          !sub.user_id.empty() && !server.registry.has_local_member(sub.channel, sub.user_id);
      occupancy_changed = server.registry.occupancy_changed();
      server.webhooks_locked(changes);
    }
    server.on_changes(changes, seq);
    if (last_local_socket) server.tell_member(sub.channel, sub.user_id, nullptr, false);
    if (occupancy_changed) server.tell_counts(true);
  }

  void leave_all() {
    for (auto& s : subs) leave(s);
    subs.clear();
  }

  void client_event(const json::object& o, std::string_view event) {
    auto reject = [&](std::string_view why) {
      server.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      send_text(error_json(4301, why));
    };
    if (!server.settings.client_events) return reject("Client events are disabled for this app.");
    const json::value* ch = o.if_contains("channel");
    if (ch == nullptr || !ch->is_string()) return reject("A client event needs a `channel`.");
    const std::string_view channel = ch->get_string();
    if (!is_private(channel) && !is_presence(channel))
      return reject("Client events are only allowed on private and presence channels.");
    Subscription* sub = find_sub(channel);
    if (sub == nullptr) return reject("The client is not subscribed to the channel.");
    if (event.size() > 200) return reject("The event name is longer than 200 characters.");
    const Clock::time_point now = Clock::now();
    if (now - rate_window >= std::chrono::seconds(1)) {
      rate_window = now;
      rate_count = 0;
    }
    if (++rate_count > server.settings.client_events_per_second)
      return reject("Client event rate limit reached.");
    std::string data;
    if (const json::value* d = o.if_contains("data"))
      data = d->is_string() ? std::string(d->get_string()) : json::serialize(*d);
    if (data.size() > server.settings.max_message_bytes)
      return reject("The event data is too large.");
    server.counters.client_events.fetch_add(1, std::memory_order_relaxed);
    if (server.webhooks)  // webhooks
      server.webhooks->client_event(channel, event, data, socket_id, sub->user_id);
    std::vector<Delivery> items;
    items.push_back({std::string(channel),
                     make_frame(Opcode::text, event_json(event, channel, data, sub->user_id)), seq,
                     socket_id});
    server.broadcast(std::move(items));
  }

  void signin(const json::value& data) {
    const json::object* d = data.if_object();
    const json::value* auth = d ? d->if_contains("auth") : nullptr;
    const json::value* user_data = d ? d->if_contains("user_data") : nullptr;
    bool ok = auth != nullptr && auth->is_string() && user_data != nullptr &&
              user_data->is_string() &&
              pusher::constant_time_equals(
                  auth->get_string(),
                  pusher::user_auth(server.credentials, socket_id, user_data->get_string()));
    std::string id;
    if (ok) {
      boost::system::error_code ec;
      json::value parsed = json::parse(user_data->get_string(), ec);
      const json::object* u = ec ? nullptr : parsed.if_object();
      const json::value* idv = u ? u->if_contains("id") : nullptr;
      ok = idv != nullptr && idv->is_string() && !idv->get_string().empty();
      if (ok) id = std::string(idv->get_string());
    }
    if (!ok) {
      server.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
      send_text(error_json(close_code::unauthorized, "The sign-in is unauthorized."));
      return close_with(close_code::unauthorized, "Unauthorized");
    }
    signed_in_user = id;
    std::string payload = "{\"user_data\":";
    append_json(payload, user_data->get_string());
    payload += '}';
    send_text(event_json("pusher:signin_success", {}, payload));
  }

  // ---- Sending ----

  void send_text(std::string_view payload) { enqueue(make_frame(Opcode::text, payload)); }

  // False when the frame did not fit the send queue (the caller closes the socket).
  // Queues a reference to the shared frame; the loop flushes every socket that got something
  // at the end of its turn (Loop::run), so a burst of events leaves in one write per socket.
  bool try_enqueue(const Frame& frame) {
    if (queued_bytes + frame->size() > server.settings.send_queue_bytes) {
      // Not flushed yet this loop turn: hand the kernel what is queued first, so a burst larger
      // than the queue closes only a socket that really stopped reading (a write is pending).
      // Never closes here (the caller may be walking a subscriber list): a dead peer is closed
      // by the loop's flush or the read that sees it.
      if (writing || queue.empty()) return false;
      if (!write_queued()) return true;
      if (queued_bytes + frame->size() > server.settings.send_queue_bytes) return false;
    }
    queue.push_back(frame);
    queued_bytes += frame->size();
    if (!writing && !dirty) {
      dirty = true;
      loop.mark_dirty(shared_from_this());
    }
    return true;
  }

  // Writes what is queued: one non-blocking gathered write, then an async write for whatever
  // the kernel did not take.
  void flush() {
    if (!write_queued()) close_now();  // the peer is gone
  }

  // The write half of flush(); false on a write error (the caller closes).
  bool write_queued() {
    if (writing || queue.empty() || phase == Phase::closed) return true;
    const std::size_t n = std::min(queue.size(), kMaxGather);
    gather.clear();
    for (std::size_t i = 0; i < n; ++i) gather.emplace_back(queue[i]->data(), queue[i]->size());
    gather[0] += head_offset;
    boost::system::error_code ec;
    std::size_t written = io_write_some(ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      written = 0;
    } else if (ec) {
      return false;
    }
    server.counters.bytes_sent.fetch_add(written, std::memory_order_relaxed);
    queued_bytes -= written;
    std::size_t done = 0;
    std::size_t left = written + head_offset;
    while (done < n && left >= queue[done]->size()) left -= queue[done++]->size();
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(done));
    head_offset = left;
    if (!queue.empty()) {
      start_write();
      return true;
    }
    if (queue.capacity() > 64) std::vector<Frame>().swap(queue);
    if (tls_drain()) return true;
    if (close_sent) shutdown_send();
    return true;
  }

  // TLS: ciphertext the kernel did not take yet leaves before anything else (and before the
  // FIN), as a write of no frames; true when one was started.
  bool tls_drain() {
    if (!tls || writing || tls_out_empty()) return false;
    writing = true;
    writing_count = 0;
    tls_when_sent([self = shared_from_this()](boost::system::error_code e) {
      self->on_written(e, 0);
    });
    return true;
  }

  void enqueue(Frame frame) {
    if (phase == Phase::closed || close_sent) return;
    if (!try_enqueue(frame)) too_slow();
  }

  void too_slow() {
    server.counters.slow.fetch_add(1, std::memory_order_relaxed);
    // Logged at most once a second for the whole server, whatever the number of slow sockets.
    const auto now = Clock::now().time_since_epoch().count();
    auto last = server.last_slow_log.load(std::memory_order_relaxed);
    if (now - last > std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() &&
        server.last_slow_log.compare_exchange_strong(last, now))
      server.log(LogLevel::warn, "socket " + socket_id + " closed with 4100: it stopped reading "
                                 "and its send queue passed send_queue_bytes (" +
                                     std::to_string(server.settings.send_queue_bytes) + ")");
    close_with(close_code::over_capacity, "Over capacity: the client does not read fast enough",
               true);
  }

  void start_write() {
    dirty = false;
    const std::size_t n = std::min(queue.size(), kMaxGather);
    gather.clear();
    for (std::size_t i = 0; i < n; ++i) gather.emplace_back(queue[i]->data(), queue[i]->size());
    gather[0] += head_offset;  // what a direct write already sent
    writing = true;
    writing_count = n;
    auto done = [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
      self->on_written(ec, bytes);
    };
    if (tls)
      asio::async_write(tls_stream, std::span<const asio::const_buffer>(gather), std::move(done));
    else
      asio::async_write(socket, std::span<const asio::const_buffer>(gather), std::move(done));
  }

  void on_written(boost::system::error_code ec, std::size_t bytes) {
    writing = false;
    server.counters.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    if (phase == Phase::closed) return;
    if (ec) return close_now();
    for (std::size_t i = 0; i < writing_count; ++i) queued_bytes -= queue[i]->size();
    queued_bytes += head_offset;
    head_offset = 0;
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(writing_count));
    writing_count = 0;
    if (!queue.empty()) return flush();
    if (queue.capacity() > 64) std::vector<Frame>().swap(queue);
    if (gather.capacity() > 8) std::vector<asio::const_buffer>().swap(gather);
    if (tls_drain()) return;
    if (close_sent) shutdown_send();
  }

  // ---- Closing ----

  // Ends the WebSocket: stops deliveries, sends a close frame after what is queued (or, with
  // `drop_queued`, instead of what is not being written yet: a slow consumer's backlog) and
  // waits (at most kCloseGrace) for the client to close.
  void close_with(std::uint16_t code, std::string_view reason, bool drop_queued = false) {
    if (phase != Phase::websocket) {
      if (phase == Phase::http) close_now();
      return;
    }
    phase = Phase::closing;
    leave_all();
    if (drop_queued) {
      const std::size_t keep = writing ? writing_count : 0;
      for (std::size_t i = keep; i < queue.size(); ++i) queued_bytes -= queue[i]->size();
      if (keep == 0 && !queue.empty()) queued_bytes += head_offset;
      if (keep == 0) head_offset = 0;
      queue.resize(keep);
    }
    auto frame = std::make_shared<const std::string>(encode_close(code, reason));
    queue.push_back(frame);
    queued_bytes += frame->size();
    close_sent = true;
    close_deadline = Clock::now() + kCloseGrace;
    if (!writing) flush();
  }

  void fail(std::uint16_t code, std::string_view reason) {
    server.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    close_with(code, reason);
  }

  void close_now() {
    if (phase == Phase::closed) return;
    if (phase == Phase::websocket) leave_all();
    phase = Phase::closed;
    if (counted) {
      server.ws_connections.fetch_sub(1, std::memory_order_relaxed);
      counted = false;
    }
    boost::system::error_code ignored;
    socket.close(ignored);
    loop.sessions.erase(this);  // the last owner is now whatever handler is running
  }
};

// ---------------------------------------------------------------------------------------------

void Loop::deliver(const std::vector<Delivery>& items) {
  std::uint64_t delivered = 0;
  for (const Delivery& d : items) {
    auto it = channels.find(d.channel);
    if (it == channels.end()) continue;
    for (Session* s : it->second.subscribers) {
      if (s->seq == d.exclude || s->slow) continue;
      if (s->try_enqueue(d.frame)) {
        ++delivered;
      } else {
        s->slow = true;
        slow.push_back(s);
      }
    }
  }
  server.counters.delivered.fetch_add(delivered, std::memory_order_relaxed);
  if (slow.empty()) return;
  std::vector<Session*> closing;
  closing.swap(slow);
  for (Session* s : closing) {
    auto keep = sessions.find(s);
    if (keep == sessions.end()) continue;
    auto owner = keep->second;
    owner->too_slow();
  }
}

void Loop::flush() {
  std::vector<std::shared_ptr<Session>> now;
  now.swap(dirty);
  for (auto& s : now) {
    s->dirty = false;
    s->flush();
  }
  now.clear();
  if (dirty.empty()) dirty.swap(now);  // keep the capacity
}

void Loop::on_tick() {
  const Clock::time_point now = Clock::now();
  const auto activity = std::chrono::seconds(server.settings.activity_timeout_s);
  const auto pong_wait = std::min<std::chrono::seconds>(activity, std::chrono::seconds(30));
  const auto handshake_deadline = std::chrono::milliseconds(server.settings.tls_handshake_timeout_ms);
  if (server.settings.tls() && this == server.loops[0].get()) server.maybe_reload_tls();
  std::vector<std::shared_ptr<Session>> due;
  for (auto& [raw, session] : sessions) {
    Session& s = *session;
    if (s.phase == Session::Phase::http && now - s.last_rx > kHttpIdle) due.push_back(session);
    else if (s.tls && !s.tls->established && now - s.tls->started > handshake_deadline) {
      server.counters.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
      due.push_back(session);  // TLS: opened TCP, never finished the handshake
    }
    else if (s.phase == Session::Phase::closing && now > s.close_deadline) due.push_back(session);
    else if (s.phase == Session::Phase::websocket) {
      if (s.ping_sent == Clock::time_point{} && now - s.last_rx > activity) {
        s.ping_sent = now;
        s.send_text("{\"event\":\"pusher:ping\",\"data\":{}}");
      } else if (s.ping_sent != Clock::time_point{} && now - s.ping_sent > pong_wait) {
        due.push_back(session);
      }
    }
  }
  for (auto& s : due) {
    if (s->phase == Session::Phase::websocket)
      s->close_with(close_code::pong_timeout, "Pong reply not received in time");
    else
      s->close_now();
  }
  tick.expires_after(std::chrono::seconds(1));
  tick.async_wait([this](boost::system::error_code ec) {
    if (!ec) on_tick();
  });
}

// ---------------------------------------------------------------------------------------------

Server::Impl::Impl(const herald::sdk::Host& h, Settings s) : host(h), settings(std::move(s)) {
  credentials = {settings.app_id, settings.key, settings.secret};
  if (!settings.webhooks.targets.empty())  // webhooks
    webhooks = std::make_unique<Webhooks>(settings, credentials, host);
  if (settings.console)
    console = ConsoleContext{
        settings.app_id, settings.key, settings.secret,
        [this] {
          ConsoleCounts c{connection_count(), {}};
          for (auto& ch : channel_counts(""))
            c.channels.push_back({std::move(ch.name), ch.subscriptions, ch.users});
          return c;
        },
        [this](const json::array& events) {
          Reply r = publish_events(events, false);
          return ConsolePublishResult{r.status, std::move(r.body)};
        }};
  for (int i = 0; i < settings.io_threads; ++i) loops.push_back(std::make_unique<Loop>(*this));
  if (settings.tls()) {
    tls_cert_stamp = stamp_of(settings.tls_cert);
    tls_key_stamp = stamp_of(settings.tls_key);
    try {
      tls_ctx = load_tls_context(settings.tls_cert, settings.tls_key);
    } catch (const std::runtime_error& e) {
      throw herald::sdk::ConfigError(e.what());
    }
  }

  const std::string where = settings.listen.str();
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(settings.listen.host, ec);
  if (ec) {
    tcp::resolver resolver(loops[0]->ctx);
    auto results = resolver.resolve(settings.listen.host, std::to_string(settings.listen.port), ec);
    if (ec || results.empty())
      throw herald::sdk::ConfigError("`listen` " + where + ": cannot resolve the host (" +
                                     ec.message() + ")");
    endpoint = results.begin()->endpoint();
  } else {
    endpoint = tcp::endpoint(address, settings.listen.port);
  }
  acceptor = std::make_unique<tcp::acceptor>(loops[0]->ctx);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw herald::sdk::Error("cannot listen on " + where + ": " + ec.message());
  bound_port = acceptor->local_endpoint().port();

  // Before the loops run: they read `bus` without a lock.
  if (settings.bus) start_bus();
  accept();
  for (auto& loop : loops) {
    Loop* l = loop.get();
    l->tick.expires_after(std::chrono::seconds(1));
    l->tick.async_wait([l](boost::system::error_code e) {
      if (!e) l->on_tick();
    });
    l->thread = std::thread([l] { l->run(); });
  }
  log(LogLevel::info, std::string("websocket: Pusher protocol 7 on ") +
                          (tls_ctx ? "wss://" : "ws://") + endpoint.address().to_string() +
                          ":" + std::to_string(bound_port) + "/app/" + settings.key +
                          ", Pusher HTTP API on /apps/" + settings.app_id + " (" +
                          std::to_string(settings.io_threads) + " I/O thread(s))");
}

// TLS: replaced certificate or key files are loaded for new connections; a pair that does not
// load is reported once (paths only) and the current one kept until the files change again.
void Server::Impl::maybe_reload_tls() {
  const FileStamp cert = stamp_of(settings.tls_cert), key = stamp_of(settings.tls_key);
  if (cert == tls_cert_stamp && key == tls_key_stamp) return;
  tls_cert_stamp = cert;
  tls_key_stamp = key;
  try {
    tls_ctx = load_tls_context(settings.tls_cert, settings.tls_key);
    log(LogLevel::info, "websocket: TLS certificate reloaded from " + settings.tls_cert);
  } catch (const std::runtime_error& e) {
    log(LogLevel::warn, std::string("websocket: keeping the current TLS certificate: ") + e.what());
  }
}

void Server::Impl::accept() {
  Loop& target = *loops[next_loop.fetch_add(1, std::memory_order_relaxed) % loops.size()];
  acceptor->async_accept(target.ctx, [this, &target](boost::system::error_code ec,
                                                     tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning, log at most once a second.
      {
        std::lock_guard lock(accept_mutex);
        accept_problem = "accepting connections on " + settings.listen.str() + " fails: " +
                         ec.message();
      }
      const auto now = Clock::now().time_since_epoch().count();
      auto last = last_accept_log.load(std::memory_order_relaxed);
      if (now - last > std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() &&
          last_accept_log.compare_exchange_strong(last, now))
        log(LogLevel::warn, "websocket: accept failed: " + ec.message());
      auto timer = std::make_shared<asio::steady_timer>(loops[0]->ctx, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](boost::system::error_code) { accept(); });
      return;
    }
    {
      std::lock_guard lock(accept_mutex);
      accept_problem.clear();
    }
    SslPtr ssl;
    if (tls_ctx) {
      ssl.reset(SSL_new(tls_ctx.get()));  // holds its own reference to today's context
      if (!ssl) {
        ERR_clear_error();
        boost::system::error_code ignored;
        socket.close(ignored);
        return accept();
      }
    }
    asio::post(target.ctx, [&target, s = std::move(socket), ssl = std::move(ssl)]() mutable {
      auto session = std::make_shared<Session>(target, std::move(s), std::move(ssl));
      target.sessions.emplace(session.get(), session);
      session->start();
    });
    accept();
  });
}

// ---------------------------------------------------------------------------------------------
// The cluster bus. Every node publishes to one Redis channel (`bus_prefix` + "bus") and reads
// everything on it; a message is lines separated by '\n', the first naming its kind and the
// second the sending node (a node skips its own):
//   E node socket_id channel payload   an event for the channel's subscribers (payload = the
//                                      Pusher event JSON; socket_id = the excluded socket or "")
//   J node channel user info           the user's first socket on that node joined a presence
//   L node channel user                ... its last socket there left
//   C node {"channel":count,..}        that node's subscription counts that changed
//   S node {"s":..,"m":..}             that node's whole state (ChannelRegistry::snapshot_json)
//   Q node                             "send me your state" (a node that just (re)joined)
//   H node                             heartbeat; a node not heard from for bus_node_timeout_ms
//                                      is forgotten with its members
//   B node                             goodbye (a node shutting down)
// Each node derives member_added/member_removed for its own sockets from its registry, so a
// user is one member of the cluster however many sockets on however many nodes.

namespace {

// The fields of one bus message: splits off `n` lines, the rest is the last field.
bool split_fields(std::string_view text, std::size_t n, std::vector<std::string_view>& out) {
  out.clear();
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) return false;
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  out.push_back(text);
  return true;
}

bool parse_node(std::string_view text, std::uint64_t& node) {
  if (text.empty() || text.size() > 19) return false;
  node = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    node = node * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

}  // namespace

void Server::Impl::broadcast(std::vector<Delivery> items) {
  if (bus) {
    const std::string head = "\n" + std::to_string(node) + "\n";
    std::string message;
    for (const Delivery& d : items) {
      const std::string_view payload = frame_payload(*d.frame);
      message.clear();
      message.reserve(payload.size() + d.channel.size() + 48);
      message += 'E';
      message += head;
      message += d.exclude_socket;
      message += '\n';
      message += d.channel;
      message += '\n';
      message += payload;
      bus->publish(message);
    }
  }
  deliver_local(std::move(items));
}

void Server::Impl::webhooks_locked(const Changes& changes) {
  if (!webhooks || changes.empty()) return;
  // One node sends the cluster's webhooks: the lowest id it knows, once it has heard the others.
  if (bus && (Clock::now().time_since_epoch().count() <
                  bus_synced_at.load(std::memory_order_relaxed) ||
              registry.leader() != node))
    return;
  // Under registry_mutex, so a channel's events are queued in the order the registry changed.
  // In Pusher's order within one change: occupied, members, vacated.
  for (const Changes::Occupancy& o : changes.occupancy)
    if (o.occupied) webhooks->channel_occupied(o.channel);
  for (const Changes::Presence& p : changes.presence)
    p.added ? webhooks->member_added(p.channel, p.user_id)
            : webhooks->member_removed(p.channel, p.user_id);
  for (const Changes::Occupancy& o : changes.occupancy)
    if (!o.occupied) webhooks->channel_vacated(o.channel);
}

void Server::Impl::on_changes(const Changes& changes, std::uint64_t exclude) {
  if (changes.presence.empty()) return;
  std::vector<Delivery> items;
  for (const Changes::Presence& p : changes.presence) {
    json::object member;
    member["user_id"] = p.user_id;
    if (p.added) member["user_info"] = p.info;
    items.push_back({p.channel,
                     make_frame(Opcode::text,
                                event_json(p.added ? "pusher_internal:member_added"
                                                   : "pusher_internal:member_removed",
                                           p.channel, json::serialize(member))),
                     exclude, {}});
  }
  deliver_local(std::move(items));
}

void Server::Impl::tell_member(const std::string& channel, const std::string& user_id,
                               const json::value& info, bool present) {
  if (!bus) return;
  std::string message = present ? "J\n" : "L\n";
  message += std::to_string(node);
  message += '\n';
  message += channel;
  message += '\n';
  message += user_id;
  if (present) {
    message += '\n';
    message += json::serialize(info);
  }
  // Dropped while the bus is down: the state sent when it is back says the same.
  bus->publish(message, true);
}

void Server::Impl::tell_counts(bool urgent) {
  if (!bus) return;
  std::vector<std::pair<std::string, std::size_t>> counts;
  {
    std::lock_guard lock(registry_mutex);
    if (urgent && !registry.occupancy_changed()) return;
    counts = registry.take_changed_counts();
  }
  if (counts.empty()) return;
  json::object o;
  for (auto& [channel, n] : counts) o[channel] = n;
  bus->publish("C\n" + std::to_string(node) + "\n" + json::serialize(o), true);
}

void Server::Impl::send_state() {
  std::string message = "S\n" + std::to_string(node) + "\n";
  {
    std::lock_guard lock(registry_mutex);
    registry.take_changed_counts();  // the snapshot holds them
    message += registry.snapshot_json();
  }
  bus->publish(message, true);
}

void Server::Impl::on_bus_message(std::string_view text) {
  thread_local std::vector<std::string_view> f;
  if (text.size() < 3 || text[1] != '\n') return;
  const char kind = text[0];
  const std::size_t fields = kind == 'E' ? 5 : kind == 'J' ? 5 : kind == 'L' ? 4
                             : kind == 'C' || kind == 'S' ? 3 : 2;
  std::uint64_t from = 0;
  if (!split_fields(text.substr(2), fields - 1, f) || !parse_node(f[0], from) || from == node)
    return;
  if (kind == 'E') {
    if (!pusher::valid_channel(f[2])) return;
    std::vector<Delivery> items;
    items.push_back({std::string(f[2]), make_frame(Opcode::text, f[3]),
                     f[1].empty() ? 0 : excluded_seq(f[1]), {}});
    deliver_local(std::move(items));
    return;
  }
  Changes changes;
  bool answer = false;
  {
    std::lock_guard lock(registry_mutex);
    registry.heard(from, Clock::now());
    switch (kind) {
      case 'J': {
        boost::system::error_code ec;
        json::value info = json::parse(f[3], ec);
        if (!ec)
          registry.apply_member(from, std::string(f[1]), std::string(f[2]), info, true, changes);
        break;
      }
      case 'L':
        registry.apply_member(from, std::string(f[1]), std::string(f[2]), nullptr, false, changes);
        break;
      case 'C': {
        boost::system::error_code ec;
        json::value counts = json::parse(f[1], ec);
        if (const json::object* o = ec ? nullptr : counts.if_object())
          for (const auto& [channel, n] : *o)
            if (n.is_uint64() || n.is_int64())
              registry.apply_count(from, std::string(channel),
                                   static_cast<std::size_t>(n.to_number<std::uint64_t>()), changes);
        break;
      }
      case 'S':
        registry.apply_snapshot(from, f[1], changes);
        break;
      case 'Q':
        answer = true;
        break;
      case 'B':
        registry.forget(from, changes);
        break;
      default:  // 'H' and kinds of later versions: alive, nothing else
        break;
    }
    webhooks_locked(changes);
  }
  on_changes(changes, 0);
  if (answer) send_state();
}

void Server::Impl::start_bus() {
  RedisBus::Options options;
  options.endpoint = *settings.bus;
  options.channel = settings.bus_prefix + "bus";
  options.queue_bytes = settings.bus_queue_bytes;
  const std::string me = std::to_string(node);
  bus = std::make_unique<RedisBus>(
      host, std::move(options),
      RedisBus::Callbacks{[this](std::string_view m) { on_bus_message(m); },
                          [this, me] {
                            bus_synced_at.store(
                                (Clock::now() + std::chrono::milliseconds(settings.bus_heartbeat_ms))
                                    .time_since_epoch()
                                    .count(),
                                std::memory_order_relaxed);
                            // (Re)joined: ask for everyone's state and give ours.
                            bus->publish("Q\n" + me, true);
                            send_state();
                          }});
  // Heartbeats, expiry of silent nodes, and the counts that changed since the last round.
  bus->every(std::chrono::milliseconds(settings.bus_heartbeat_ms), [this, me] {
    bus->publish("H\n" + me, true);
    Changes changes;
    {
      std::lock_guard lock(registry_mutex);
      registry.expire(Clock::now() - std::chrono::milliseconds(settings.bus_node_timeout_ms),
                      changes);
      webhooks_locked(changes);
    }
    on_changes(changes, 0);
  });
  bus->every(std::chrono::milliseconds(100), [this] { tell_counts(false); });
  bus->start();
}

Server::Impl::~Impl() {
  if (bus) {
    // Tell the others at once (instead of them waiting for the node timeout), then stop.
    bus->publish("B\n" + std::to_string(node), true);
    bus->drain(std::chrono::milliseconds(200));
    bus.reset();
  }
  asio::post(loops[0]->ctx, [this] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  });
  for (auto& loop : loops) {
    asio::post(loop->ctx, [l = loop.get()] {
      std::vector<std::shared_ptr<Session>> all;
      for (auto& [raw, s] : l->sessions) all.push_back(s);
      for (auto& s : all) {
        if (s->phase == Session::Phase::websocket)
          s->close_with(close_code::reconnect, "Server closed. Please reconnect shortly.");
        else if (s->phase == Session::Phase::http)
          s->close_now();
      }
    });
  }
  // Give the close frames a moment to leave, then stop.
  const auto deadline = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    bool quiet = true;
    for (auto& loop : loops) {
      auto empty = std::make_shared<std::promise<bool>>();
      auto f = empty->get_future();
      asio::post(loop->ctx, [l = loop.get(), empty] {
        bool none = true;
        for (auto& [raw, s] : l->sessions)
          none = none && (s->phase == Session::Phase::closed || !s->writing);
        empty->set_value(none);
      });
      quiet = quiet && f.wait_for(std::chrono::milliseconds(200)) == std::future_status::ready &&
              f.get();
    }
    if (quiet) break;
  }
  for (auto& loop : loops) loop->ctx.stop();
  for (auto& loop : loops)
    if (loop->thread.joinable()) loop->thread.join();
  // Sessions hold sockets of their loop's context: release them before the contexts go.
  for (auto& loop : loops) {
    for (auto& [raw, s] : loop->sessions) {
      boost::system::error_code ignored;
      s->socket.close(ignored);
    }
    loop->sessions.clear();
    loop->channels.clear();
  }
  acceptor.reset();
}

std::string Server::Impl::metrics_text() const {
  std::size_t channels = 0, nodes = 1;
  {
    std::lock_guard lock(registry_mutex);
    channels = registry.channel_count();
    nodes = registry.node_count();
  }
  const std::string label = "{connection=\"" + settings.connection + "\"}";
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                    std::uint64_t value) {
    plugins::append_family(out, name, type, help, label, value);
  };
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  family("herald_ws_connections", "gauge", "Open WebSocket connections.",
         ws_connections.load(std::memory_order_relaxed));
  family("herald_ws_subscriptions", "gauge", "Channel subscriptions of open sockets.",
         get(counters.subscriptions));
  family("herald_ws_channels", "gauge", "Channels with at least one subscriber.", channels);
  family("herald_ws_connections_total", "counter", "WebSocket connections accepted.",
         get(counters.connections_total));
  family("herald_ws_connections_refused_total", "counter",
         "WebSocket connections refused by max_connections.", get(counters.refused));
  family("herald_ws_messages_delivered_total", "counter", "Events queued to subscribers.",
         get(counters.delivered));
  family("herald_ws_bytes_sent_total", "counter", "Bytes written to clients.",
         get(counters.bytes_sent));
  family("herald_ws_slow_consumer_disconnects_total", "counter",
         "Sockets closed because their send queue passed send_queue_bytes.", get(counters.slow));
  family("herald_ws_client_events_total", "counter", "Client events relayed.",
         get(counters.client_events));
  family("herald_ws_auth_failures_total", "counter", "Refused channel auth and sign-ins.",
         get(counters.auth_failures));
  family("herald_ws_protocol_errors_total", "counter", "Malformed or refused client messages.",
         get(counters.protocol_errors));
  family("herald_ws_rest_requests_total", "counter", "Pusher HTTP API requests.",
         get(counters.rest_requests));
  if (settings.tls())
    family("herald_ws_tls_handshake_failures_total", "counter",
           "TLS connections closed before the handshake completed (bad or plain-text clients).",
           get(counters.tls_handshake_failures));
  if (bus) {
    const RedisBus::Stats b = bus->stats();
    family("herald_ws_bus_up", "gauge", "1 while the cluster bus (Redis) is connected.", b.up);
    family("herald_ws_bus_nodes", "gauge", "Nodes of the cluster this node knows, itself included.",
           nodes);
    family("herald_ws_bus_published_total", "counter", "Messages published to the cluster bus.",
           b.published);
    family("herald_ws_bus_received_total", "counter", "Messages received from the cluster bus.",
           b.received);
    family("herald_ws_bus_dropped_total", "counter",
           "Messages for other nodes dropped: the bus backlog (bus_queue_bytes) was full.",
           b.dropped);
    family("herald_ws_bus_reconnects_total", "counter", "Times the bus came back after a loss.",
           b.reconnects);
    family("herald_ws_bus_errors_total", "counter", "Error replies from Redis to a PUBLISH.",
           b.errors);
  }
  if (webhooks) out += webhooks->metrics_text();  // webhooks
  return out;
}


// ---------------------------------------------------------------------------------------------
// The Pusher HTTP API (protocols.md section 2), signed and checked as Pusher does.

namespace {

std::string error_body(std::string_view message) {
  std::string body = "{\"error\":";
  append_json(body, message);
  body += '}';
  return body;
}

// `info=a,b`: which attributes were asked for; false on an unknown one.
bool parse_info(std::string_view info, bool& subscriptions, bool& users) {
  subscriptions = users = false;
  while (!info.empty()) {
    const auto comma = info.find(',');
    const std::string_view item = info.substr(0, comma);
    if (item == "subscription_count")
      subscriptions = true;
    else if (item == "user_count")
      users = true;
    else if (!item.empty())
      return false;
    if (comma == std::string_view::npos) break;
    info.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

std::optional<std::string> Server::Impl::verify_signature(std::string_view method,
                                                          std::string_view path,
                                                          std::string_view query,
                                                          std::string_view body) const {
  pusher::guard_detail::Fields fields;
  std::string error;
  if (!pusher::guard_detail::parse_form(query, fields, error)) return error;
  std::optional<std::string> signature;
  std::vector<std::pair<std::string, std::string>> params;
  for (auto& [k, v] : fields) {
    if (k == "auth_signature") {
      if (signature) return std::string("`auth_signature` is given twice");
      signature = v;
    } else {
      params.emplace_back(k, v);
    }
  }
  std::sort(params.begin(), params.end());
  const std::string* key = nullptr;
  const std::string* timestamp = nullptr;
  const std::string* version = nullptr;
  const std::string* md5 = nullptr;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0 && params[i].first == params[i - 1].first)
      return "`" + plugins::http::one_line(params[i].first, 40) + "` is given twice";
    const auto& [k, v] = params[i];
    if (k == "auth_key") key = &v;
    if (k == "auth_timestamp") timestamp = &v;
    if (k == "auth_version") version = &v;
    if (k == "body_md5") md5 = &v;
  }
  if (!signature || key == nullptr || timestamp == nullptr || version == nullptr)
    return std::string("unsigned request: auth_key, auth_timestamp, auth_version and "
                       "auth_signature are required");
  if (*key != settings.key) return std::string("unknown auth_key");
  if (*version != "1.0") return std::string("auth_version must be 1.0");
  std::int64_t ts = 0;
  if (timestamp->empty() || timestamp->size() > 12) return std::string("bad auth_timestamp");
  for (char c : *timestamp) {
    if (c < '0' || c > '9') return std::string("bad auth_timestamp");
    ts = ts * 10 + (c - '0');
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (ts < now - 600 || ts > now + 600)
    return std::string("auth_timestamp is more than 600 s away from the server's clock");
  if (!body.empty() && (md5 == nullptr || !pusher::constant_time_equals(*md5, pusher::md5_hex(body))))
    return std::string("body_md5 does not match the body");
  std::string to_sign;
  for (char c : method) to_sign += (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
  to_sign += '\n';
  to_sign += path;
  to_sign += '\n';
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0) to_sign += '&';
    to_sign += params[i].first;
    to_sign += '=';
    to_sign += params[i].second;
  }
  if (!pusher::constant_time_equals(*signature, pusher::hmac_sha256_hex(settings.secret, to_sign)))
    return std::string("invalid signature");
  return std::nullopt;
}

std::uint64_t Server::Impl::excluded_seq(std::string_view socket_id) const {
  const auto dot = socket_id.find('.');
  if (dot == std::string_view::npos || socket_id.substr(0, dot) != std::to_string(node)) return 0;
  std::uint64_t seq = 0;
  for (char c : socket_id.substr(dot + 1)) seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  return seq;
}

json::object Server::Impl::channel_info(std::string_view channel, bool subscriptions,
                                        bool users) const {
  const std::string name(channel);
  std::lock_guard lock(registry_mutex);
  json::object info;
  if (subscriptions) info["subscription_count"] = registry.subscriptions(name);
  if (users && is_presence(channel)) info["user_count"] = registry.user_count(name);
  return info;
}

Server::Impl::Reply Server::Impl::publish_events(const json::array& events, bool batch) {
  std::vector<Delivery> items;
  json::array batch_info;
  json::object channels_info;
  bool any_info = false;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json::object* e = events[i].if_object();
    const std::string which = batch ? "batch event " + std::to_string(i + 1) + ": " : "";
    if (e == nullptr) return {400, error_body(which + "each event must be a JSON object")};
    const json::value* name = e->if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty() ||
        name->get_string().size() > 200)
      return {400, error_body(which + "`name` must be a string of 1..200 characters")};
    const json::value* data = e->if_contains("data");
    if (data == nullptr || !data->is_string())
      return {400, error_body(which + "`data` must be a string")};
    if (data->get_string().size() > settings.max_message_bytes)
      return {413, error_body(which + "`data` is over " + std::to_string(settings.max_message_bytes) +
                              " bytes")};
    std::vector<std::string_view> channels;
    const json::value* list = e->if_contains("channels");
    const json::value* one = e->if_contains("channel");
    if (batch && list != nullptr)
      return {400, error_body(which + "batch events take one `channel`")};
    if (list != nullptr) {
      if (!list->is_array() || list->get_array().empty())
        return {400, error_body("`channels` must be a non-empty list")};
      if (list->get_array().size() > pusher::kMaxChannelsPerEvent)
        return {400, error_body("at most 100 channels per event")};
      for (const auto& c : list->get_array()) {
        if (!c.is_string()) return {400, error_body("`channels` must hold strings")};
        channels.emplace_back(c.get_string());
      }
    } else if (one != nullptr && one->is_string()) {
      channels.emplace_back(one->get_string());
    } else {
      return {400, error_body(which + (batch ? "`channel` is required" : "`channels` or `channel` is required"))};
    }
    for (std::string_view c : channels)
      if (!pusher::valid_channel(c))
        return {400, error_body(which + "invalid channel name `" + plugins::http::one_line(c, 80) +
                                "`")};
    std::uint64_t exclude = 0;
    std::string exclude_socket;
    if (const json::value* sid = e->if_contains("socket_id"); sid != nullptr && !sid->is_null()) {
      if (!sid->is_string() || !pusher::guard_detail::valid_socket_id(sid->get_string()))
        return {400, error_body(which + "`socket_id` must look like 123.456")};
      exclude = excluded_seq(sid->get_string());
      exclude_socket = std::string(sid->get_string());
    }
    bool want_subs = false, want_users = false;
    if (const json::value* info = e->if_contains("info"); info != nullptr && !info->is_null()) {
      if (!info->is_string() || !parse_info(info->get_string(), want_subs, want_users))
        return {400, error_body(which + "`info` may list subscription_count and user_count")};
    }
    const std::string_view event_name = name->get_string();
    const std::string_view payload = data->get_string();
    if (!valid_utf8(payload) || !valid_utf8(event_name))
      return {400, error_body(which + "the event is not valid UTF-8")};
    json::object event_info;
    for (std::string_view c : channels) {
      items.push_back({std::string(c), make_frame(Opcode::text, event_json(event_name, c, payload)),
                       exclude, exclude_socket});
      if (want_subs || want_users) {
        any_info = true;
        if (batch)
          event_info = channel_info(c, want_subs, want_users);
        else
          channels_info[c] = channel_info(c, want_subs, want_users);
      }
    }
    if (batch) batch_info.emplace_back(std::move(event_info));
  }
  broadcast(std::move(items));
  if (!any_info) return {200, "{}"};
  json::object reply;
  if (batch)
    reply["batch"] = std::move(batch_info);
  else
    reply["channels"] = std::move(channels_info);
  return {200, json::serialize(reply)};
}

Server::Impl::Reply Server::Impl::rest(std::string_view method, std::string_view path,
                                       std::string_view query, std::string_view body) {
  std::string_view rest = path.substr(6);  // after "/apps/"
  const auto slash = rest.find('/');
  const std::string_view id = rest.substr(0, slash);
  const std::string_view what = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (id != settings.app_id) return {404, error_body("unknown app id")};
  if (auto why = verify_signature(method, path, query, body))
    return {401, error_body(*why)};
  pusher::guard_detail::Fields fields;
  std::string error;
  pusher::guard_detail::parse_form(query, fields, error);  // checked by verify_signature
  auto param = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : fields)
      if (k == name) return v;
    return {};
  };
  auto post_body = [&]() -> std::optional<json::value> {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return v;
  };
  if (what == "/events" || what == "/batch_events") {
    if (method != "POST") return {405, error_body("use POST")};
    auto v = post_body();
    if (!v) return {400, error_body("the body must be a JSON object")};
    if (what == "/events") return publish_events(json::array{*v}, false);
    const json::value* batch = v->get_object().if_contains("batch");
    if (batch == nullptr || !batch->is_array() || batch->get_array().empty())
      return {400, error_body("`batch` must be a non-empty list of events")};
    if (batch->get_array().size() > pusher::kMaxBatchEvents)
      return {400, error_body("at most 10 events per batch")};
    return publish_events(batch->get_array(), true);
  }
  if (method != "GET") return {405, error_body("use GET")};
  bool want_subs = false, want_users = false;
  if (!parse_info(param("info"), want_subs, want_users))
    return {400, error_body("`info` may list subscription_count and user_count")};
  if (what == "/channels") {
    const std::string prefix = param("filter_by_prefix");
    if (want_users && !prefix.starts_with("presence-"))
      return {400, error_body("user_count needs filter_by_prefix=presence-")};
    json::object channels;
    for (const ChannelCount& c : channel_counts(prefix)) {
      json::object info;
      if (want_subs) info["subscription_count"] = c.subscriptions;
      if (want_users && is_presence(c.name)) info["user_count"] = c.users;
      channels[c.name] = std::move(info);
    }
    json::object reply;
    reply["channels"] = std::move(channels);
    return {200, json::serialize(reply)};
  }
  if (what.starts_with("/channels/")) {
    std::string_view channel = what.substr(10);
    const bool users = channel.ends_with("/users");
    if (users) channel.remove_suffix(6);
    if (!pusher::valid_channel(channel)) return {400, error_body("invalid channel name")};
    if (users) {
      if (!is_presence(channel)) return {400, error_body("users are listed for presence channels only")};
      json::array list;
      {
        std::lock_guard lock(registry_mutex);
        for (const auto& [uid, info] : registry.members(std::string(channel)))
          list.push_back(json::object{{"id", uid}});
      }
      json::object reply;
      reply["users"] = std::move(list);
      return {200, json::serialize(reply)};
    }
    if (want_users && !is_presence(channel))
      return {400, error_body("user_count is available for presence channels only")};
    json::object reply = channel_info(channel, true, want_users);
    const bool occupied = reply["subscription_count"].to_number<std::uint64_t>() > 0;
    if (!want_subs) reply.erase("subscription_count");
    reply["occupied"] = occupied;
    return {200, json::serialize(reply)};
  }
  return {404, error_body("unknown endpoint")};
}

// ---------------------------------------------------------------------------------------------

Server::Server(const herald::sdk::Host& host, Settings settings)
    : impl_(std::make_unique<Impl>(host, std::move(settings))) {}

Server::~Server() = default;

std::uint16_t Server::port() const noexcept { return impl_->bound_port; }

std::string Server::metrics_text() const { return impl_->metrics_text(); }

std::string Server::health_problem() const {
  {
    std::lock_guard lock(impl_->accept_mutex);
    if (!impl_->accept_problem.empty()) return impl_->accept_problem;
  }
  return impl_->bus ? impl_->bus->problem() : std::string();
}

void Server::publish(herald::sdk::Texts topics, herald::sdk::Texts messages) {
  for (std::size_t i = 0; i < topics.size(); ++i)
    if (!pusher::valid_channel(topics[i]))
      throw herald::sdk::InvalidArgument(
          "topic " + std::to_string(i + 1) + " `" + plugins::http::one_line(topics[i], 80) +
          "` is not a Pusher channel name (1..200 of A-Z a-z 0-9 _ - = @ , . ;)");
  std::vector<Delivery> items;
  items.reserve(topics.size() * messages.size());
  for (std::size_t m = 0; m < messages.size(); ++m) {
    const plugins::EventEnvelope e = plugins::to_event(messages[m], impl_->settings.event);
    if (e.data_text.size() > impl_->settings.max_message_bytes)
      throw herald::sdk::InvalidArgument(
          "message " + std::to_string(m + 1) + ": event data is " +
          std::to_string(e.data_text.size()) + " bytes, over the " +
          std::to_string(impl_->settings.max_message_bytes) + "-byte limit (`max_message_bytes`)");
    if (e.event.empty() || e.event.size() > 200)
      throw herald::sdk::InvalidArgument("message " + std::to_string(m + 1) +
                                         ": the event name must be 1..200 characters");
    if (!valid_utf8(e.data_text) || !valid_utf8(e.event))
      throw herald::sdk::InvalidArgument("message " + std::to_string(m + 1) +
                                         " is not valid UTF-8 text");
    if (!e.socket.empty() && !plugins::is_socket_id(e.socket))
      throw herald::sdk::InvalidArgument("message " + std::to_string(m + 1) +
                                         ": `socket` must be a socket id such as \"123.456\"");
    const std::uint64_t exclude = e.socket.empty() ? 0 : impl_->excluded_seq(e.socket);
    for (std::string_view topic : topics)
      items.push_back({std::string(topic),
                       make_frame(Opcode::text, event_json(e.event, topic, e.data_text)), exclude,
                       e.socket});
  }
  if (!items.empty()) impl_->broadcast(std::move(items));
}

}  // namespace herald::websocket
