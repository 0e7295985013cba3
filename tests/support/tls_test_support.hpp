// TLS for tests: a throwaway CA and server certificates made at test time with the OpenSSL API
// (nothing committed), and a small blocking TLS client over a POSIX socket with deadlines on
// every read, enough for an HTTP request or a Pusher protocol 7 WebSocket session. Link
// OpenSSL::SSL.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/json.hpp>

#include "ws_test_client.hpp"  // ws::encode_frame

namespace herald::testing_support::tls {

struct KeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

inline std::string openssl_error(const std::string& what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

// One certificate and its key, also written as PEM files.
struct Issued {
  Key key;
  Cert cert;
  long serial = 0;
};

inline void add_ext(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error(openssl_error("X509V3_EXT_conf_nid"));
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 certificate named `cn`, valid for an hour; self-signed when `issuer` is null (a CA),
// else a server certificate for 127.0.0.1 and localhost signed by it.
inline Issued issue(const std::string& cn, long serial, const Issued* issuer = nullptr) {
  Issued out;
  out.serial = serial;
  out.key.reset(EVP_EC_gen("P-256"));
  if (!out.key) throw std::runtime_error(openssl_error("EVP_EC_gen"));
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, out.key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  if (issuer == nullptr) {
    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, signer, NID_ext_key_usage, "serverAuth");
    add_ext(x, signer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  add_ext(x, signer, NID_subject_key_identifier, "hash");
  if (X509_sign(x, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()) == 0)
    throw std::runtime_error(openssl_error("X509_sign"));
  return out;
}

inline void write_cert(const Issued& i, const std::filesystem::path& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), path.string());
  const int ok = PEM_write_X509(f, i.cert.get());
  std::fclose(f);
  if (ok != 1) throw std::runtime_error(openssl_error("PEM_write_X509"));
}

inline void write_key(const Issued& i, const std::filesystem::path& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), path.string());
  const int ok = PEM_write_PrivateKey(f, i.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  if (ok != 1) throw std::runtime_error(openssl_error("PEM_write_PrivateKey"));
}

// A blocking TLS connection to 127.0.0.1:port that trusts `ca_file` and checks the IP.
class Client {
 public:
  using Millis = std::chrono::milliseconds;

  // `receive_buffer`: SO_RCVBUF before connect (0 = the kernel's default), for slow readers.
  Client(std::uint16_t port, const std::filesystem::path& ca_file, Millis timeout = Millis(5000),
         int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::system_error(errno, std::generic_category(), "connect");
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error(openssl_error("load CA"));
    static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn);
    ssl_ = SSL_new(ctx_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
      const long verify = SSL_get_verify_result(ssl_);
      error_ = verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                                   : openssl_error("handshake");
      return;
    }
    connected_ = true;
  }
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const noexcept { return connected_; }
  const std::string& error() const noexcept { return error_; }

  // The server certificate's serial number (-1 when none).
  long peer_serial() const {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (peer == nullptr) return -1;
    const long serial = ASN1_INTEGER_get(X509_get_serialNumber(peer));
    X509_free(peer);
    return serial;
  }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  void write(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, data.data() + done, data.size() - done, &n) != 1)
        throw std::runtime_error(openssl_error("SSL_write"));
      done += n;
    }
  }

  // Appends what arrives to `buffer_`; false on EOF, error or timeout.
  bool read_more() {
    char buf[16384];
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, buf, sizeof buf, &n) != 1) {
      ERR_clear_error();
      return false;
    }
    buffer_.append(buf, n);
    return true;
  }

  // An HTTP/1.1 request (Connection: close): the whole response as text ("" on failure).
  // `headers`: extra header lines, each ending in \r\n.
  std::string http(const std::string& method, const std::string& target,
                   const std::string& body = {}, const std::string& headers = {}) {
    write(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
          headers + "Content-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body);
    while (read_more()) {
    }
    return buffer_;
  }

  // The WebSocket upgrade to /app/{key}: true on 101.
  bool upgrade(const std::string& key) {
    write("GET /app/" + key +
          "?protocol=7&client=js&version=8.4.0&flash=false HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) return false;
    const bool ok = buffer_.starts_with("HTTP/1.1 101");
    buffer_.erase(0, end + 4);
    return ok;
  }

  void send_text(std::string_view payload) { write(ws::encode_frame(ws::kText, payload)); }

  // The next text frame's payload (nullopt on close, EOF or timeout).
  std::optional<std::string> next_text() {
    for (;;) {
      if (buffer_.size() >= 2) {
        const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data());
        std::uint64_t len = p[1] & 0x7f;
        std::size_t header = 2;
        if (len == 126) header = 4;
        if (len == 127) header = 10;
        if (buffer_.size() >= header) {
          if (len == 126) len = (std::uint64_t(p[2]) << 8) | p[3];
          if (len == 127) {
            len = 0;
            for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
          }
          if (buffer_.size() >= header + len) {
            const int opcode = p[0] & 0x0f;
            std::string payload = buffer_.substr(header, len);
            buffer_.erase(0, header + len);
            if (opcode == ws::kText) return payload;
            if (opcode == ws::kClose) return std::nullopt;
            continue;
          }
        }
      }
      if (!read_more()) return std::nullopt;
    }
  }

  // The next Pusher event named `event` (others skipped), parsed.
  std::optional<boost::json::object> wait_event(std::string_view event) {
    while (auto text = next_text()) {
      boost::system::error_code ec;
      auto v = boost::json::parse(*text, ec);
      if (ec || !v.is_object()) continue;
      const auto* e = v.as_object().if_contains("event");
      if (e != nullptr && e->is_string() && e->get_string() == event) return v.as_object();
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string error_;
  std::string buffer_;
};

}  // namespace herald::testing_support::tls
