// Pusher Channels signing primitives (protocols.md sections 2 and 3): REST request signing
// (pusher-http-node `createSignedQueryString`), channel-authorization and user sign-in
// signatures, and the `private-encrypted-` shared secret. Header-only over OpenSSL libcrypto so
// unit tests compile it in; every function is thread-safe (the only shared state is the
// read-only digest implementations fetched once).
//
// Secrets are only ever used as HMAC keys here: no function puts a secret into a returned string
// or an exception message, and key material on the stack is cleansed after use.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::pusher {

struct Credentials {
  std::string app_id, key, secret;
};

namespace detail {

inline std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";  // Pusher wants lowercase hex
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0F];
  }
  return out;
}

// OpenSSL 3 looks a digest up in its provider store on every init when given EVP_sha256() /
// EVP_md5(); that lookup costs more than hashing a signature's few bytes, so fetch once. The
// holder frees it with the static objects (at exit, or when a plugin is unloaded).
class FetchedDigest {
 public:
  FetchedDigest(const char* name, const EVP_MD* fallback) noexcept : fallback_(fallback) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    fetched_ = EVP_MD_fetch(nullptr, name, nullptr);
#else
    (void)name;
#endif
  }
  ~FetchedDigest() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD_free(fetched_);
#endif
  }
  FetchedDigest(const FetchedDigest&) = delete;
  FetchedDigest& operator=(const FetchedDigest&) = delete;
  const EVP_MD* get() const noexcept { return fetched_ != nullptr ? fetched_ : fallback_; }

 private:
  EVP_MD* fetched_ = nullptr;
  const EVP_MD* fallback_;
};

inline const EVP_MD* sha256_md() {
  static const FetchedDigest md("SHA2-256", EVP_sha256());
  return md.get();
}
inline const EVP_MD* md5_md() {
  static const FetchedDigest md("MD5", EVP_md5());
  return md.get();
}

inline void digest(const EVP_MD* md, std::string_view data, unsigned char* out,
                   unsigned int* out_size) {
  if (EVP_Digest(data.data(), data.size(), out, out_size, md, nullptr) != 1)
    throw std::runtime_error("pusher: OpenSSL digest failed");
}

class MdContext {
 public:
  MdContext() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) throw std::runtime_error("pusher: out of memory for a digest");
  }
  ~MdContext() { EVP_MD_CTX_free(ctx_); }
  MdContext(const MdContext&) = delete;
  MdContext& operator=(const MdContext&) = delete;

  // One digest of the concatenation of `parts`.
  template <size_t N>
  void hash(const EVP_MD* md, const std::string_view (&parts)[N], unsigned char* out) {
    unsigned int size = 0;
    bool ok = EVP_DigestInit_ex(ctx_, md, nullptr) == 1;
    for (size_t i = 0; ok && i < N; ++i)
      ok = EVP_DigestUpdate(ctx_, parts[i].data(), parts[i].size()) == 1;
    if (!ok || EVP_DigestFinal_ex(ctx_, out, &size) != 1)
      throw std::runtime_error("pusher: OpenSSL digest failed");
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace detail

// Lowercase hex MD5 of the exact bytes (the REST `body_md5`).
inline std::string md5_hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  detail::digest(detail::md5_md(), data, out, &size);
  return detail::to_hex(out, size);
}

// Raw SHA-256 (32 bytes).
inline std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  detail::digest(detail::sha256_md(), data, out.data(), &size);
  return out;
}

// Lowercase hex HMAC-SHA256(secret, data): every Pusher signature. The RFC 2104 construction
// over the fetched SHA-256 (OpenSSL's one-shot HMAC() re-fetches its digest and MAC on every
// call, about four times slower for inputs this small); checked against RFC 4231.
inline std::string hmac_sha256_hex(std::string_view secret, std::string_view data) {
  constexpr size_t kBlock = 64;  // SHA-256's block size
  const EVP_MD* md = detail::sha256_md();
  unsigned char key[kBlock] = {};
  if (secret.size() > kBlock) {
    auto hashed = sha256(secret);
    std::memcpy(key, hashed.data(), hashed.size());
    OPENSSL_cleanse(hashed.data(), hashed.size());
  } else if (!secret.empty()) {
    std::memcpy(key, secret.data(), secret.size());
  }
  unsigned char pad[kBlock], inner[32], out[32];
  try {
    detail::MdContext ctx;
    for (size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<unsigned char>(key[i] ^ 0x36);
    const std::string_view inner_parts[] = {{reinterpret_cast<const char*>(pad), kBlock}, data};
    ctx.hash(md, inner_parts, inner);
    for (size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<unsigned char>(key[i] ^ 0x5c);
    const std::string_view outer_parts[] = {{reinterpret_cast<const char*>(pad), kBlock},
                                            {reinterpret_cast<const char*>(inner), sizeof inner}};
    ctx.hash(md, outer_parts, out);
  } catch (...) {
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    throw;
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(pad, sizeof pad);
  return detail::to_hex(out, sizeof out);
}

// Compares two signatures without leaking where they differ (the length is not secret).
inline bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Standard base64 with padding (the `shared_secret` encoding).
inline std::string base64_encode(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    std::uint32_t v = (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8) |
                      std::uint32_t(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    std::uint32_t v = std::uint32_t(data[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    std::uint32_t v = (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Strict standard base64 decoding (padding required, no whitespace); false on bad input.
inline bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int a = value(in[i]), b = value(in[i + 1]);
    int c = in[i + 2] == '=' && last ? -2 : value(in[i + 2]);
    int d = in[i + 3] == '=' && last ? -2 : value(in[i + 3]);
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) return false;
    out += char((a << 2) | (b >> 4));
    if (c >= 0) out += char(((b & 15) << 4) | (c >> 2));
    if (d >= 0) out += char(((c & 3) << 6) | d);
  }
  return true;
}

// Pusher REST signing (protocols.md section 2): returns the full query string to append after
// '?'. Every param (auth_key, auth_timestamp, auth_version=1.0, body_md5 when body is non-empty,
// plus `params`) is sorted by key in byte order and joined k=v with '&' WITHOUT escaping (as
// pusher-http-node does: callers pass values that need none), then "&auth_signature=<hex>" of
// HMAC-SHA256(secret, METHOD "\n" path "\n" sorted_query). `method` is upper-cased like the
// reference library. A reserved key in `params` (auth_*, body_md5) or a repeated key throws
// std::invalid_argument, as the library refuses to override its own parameters.
inline std::string signed_query(const Credentials& c, std::string_view method,
                                std::string_view path, std::string_view body,
                                std::int64_t unix_timestamp,
                                std::vector<std::pair<std::string, std::string>> params = {}) {
  for (const auto& p : params) {
    if (p.first == "auth_key" || p.first == "auth_timestamp" || p.first == "auth_version" ||
        p.first == "auth_signature" || p.first == "body_md5")
      throw std::invalid_argument("pusher: query parameter `" + p.first +
                                  "` is reserved for signing");
  }
  params.emplace_back("auth_key", c.key);
  params.emplace_back("auth_timestamp", std::to_string(unix_timestamp));
  params.emplace_back("auth_version", "1.0");
  if (!body.empty()) params.emplace_back("body_md5", md5_hex(body));
  std::sort(params.begin(), params.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < params.size(); ++i)
    if (params[i].first == params[i - 1].first)
      throw std::invalid_argument("pusher: query parameter `" + params[i].first +
                                  "` is given twice");

  std::string query;
  for (const auto& [k, v] : params) {
    if (!query.empty()) query += '&';
    query += k;
    query += '=';
    query += v;
  }
  std::string to_sign;
  to_sign.reserve(method.size() + path.size() + query.size() + 2);
  for (char ch : method) to_sign += (ch >= 'a' && ch <= 'z') ? char(ch - 'a' + 'A') : ch;
  to_sign += '\n';
  to_sign += path;
  to_sign += '\n';
  to_sign += query;
  query += "&auth_signature=";
  query += hmac_sha256_hex(c.secret, to_sign);
  return query;
}

// Channel authorization (protocols.md section 3): "<key>:" + hex HMAC-SHA256(secret,
// socket_id ":" channel [":" channel_data]). `channel_data` is appended only when non-empty
// (presence channels), exactly as the client will send it in pusher:subscribe.
inline std::string channel_auth(const Credentials& c, std::string_view socket_id,
                                std::string_view channel, std::string_view channel_data = {}) {
  std::string to_sign;
  to_sign.reserve(socket_id.size() + channel.size() + channel_data.size() + 2);
  to_sign.append(socket_id).append(":").append(channel);
  if (!channel_data.empty()) to_sign.append(":").append(channel_data);
  return c.key + ":" + hmac_sha256_hex(c.secret, to_sign);
}

// User sign-in: "<key>:" + hex HMAC-SHA256(secret, socket_id "::user::" user_data).
inline std::string user_auth(const Credentials& c, std::string_view socket_id,
                             std::string_view user_data) {
  std::string to_sign;
  to_sign.reserve(socket_id.size() + user_data.size() + 8);
  to_sign.append(socket_id).append("::user::").append(user_data);
  return c.key + ":" + hmac_sha256_hex(c.secret, to_sign);
}

// `shared_secret` for a private-encrypted- channel: base64(SHA256(channel || master_key)), where
// master_key is the 32 raw bytes (already base64-decoded).
inline std::string encrypted_shared_secret(std::string_view channel, std::string_view master_key) {
  std::string input;
  input.reserve(channel.size() + master_key.size());
  input.append(channel).append(master_key);
  auto digest = sha256(input);
  return base64_encode(digest.data(), digest.size());
}

}  // namespace herald::pusher
