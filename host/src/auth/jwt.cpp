#include "auth/jwt.hpp"

#include <algorithm>
#include <array>

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/constant_time.hpp"

namespace herald {
namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kBase64Url[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kBase64Url[(v >> 18) & 63];
    out += kBase64Url[(v >> 12) & 63];
    if (i + 1 < in.size()) out += kBase64Url[(v >> 6) & 63];
  }
  return out;
}

// Unpadded base64url (RFC 7515 section 2); nullopt for any other character, a bad length or
// non-zero unused bits in the last character (canonical form only: otherwise up to four
// spellings decode to the same bytes, and a token's text would not identify it).
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if ((buffer & ((1u << bits) - 1u)) != 0) return std::nullopt;
  return out;
}

const EVP_MD* digest_for(std::string_view algorithm) {
  if (algorithm == "HS256") return EVP_sha256();
  if (algorithm == "HS384") return EVP_sha384();
  if (algorithm == "HS512") return EVP_sha512();
  return nullptr;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &size) == nullptr)
    return {};
  return std::string(reinterpret_cast<const char*>(out.data()), size);
}

std::optional<boost::json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// A NumericDate claim (RFC 7519 section 2): a JSON number of seconds.
std::optional<double> numeric_date(const boost::json::object& claims, std::string_view name,
                                   bool& malformed) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  malformed = true;
  return std::nullopt;
}

JwtResult refuse(std::string reason) { return JwtResult{std::nullopt, std::move(reason)}; }

}  // namespace

JwtResult verify_jwt(std::string_view token, const JwtOptions& options,
                     std::chrono::system_clock::time_point now) {
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return refuse("token is not a JWS compact serialization (header.payload.signature)");
  const std::string_view header64 = token.substr(0, first);
  const std::string_view payload64 = token.substr(first + 1, second - first - 1);
  const std::string_view signature64 = token.substr(second + 1);

  const auto header_text = base64url_decode(header64);
  const auto header = header_text ? parse_object(*header_text) : std::nullopt;
  if (!header) return refuse("token header is not base64url-encoded JSON");
  const boost::json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return refuse("token header has no `alg`");
  // RFC 7515 section 4.1.11: an extension the recipient does not understand must be refused.
  if (header->contains("crit")) return refuse("token header has `crit` (no extension is supported)");
  const std::string_view algorithm = alg->get_string();
  const EVP_MD* md = digest_for(algorithm);
  if (md == nullptr ||
      std::find(options.algorithms.begin(), options.algorithms.end(), algorithm) ==
          options.algorithms.end())
    return refuse("token algorithm is not accepted (accepted: HMAC " +
                  [&] {
                    std::string list;
                    for (const auto& a : options.algorithms) list += (list.empty() ? "" : ", ") + a;
                    return list;
                  }() +
                  ")");

  const auto signature = base64url_decode(signature64);
  if (!signature) return refuse("token signature is not base64url");
  const std::string expected = hmac(md, options.secret, token.substr(0, second));
  if (expected.empty() || !constant_time_equals(*signature, expected))
    return refuse("token signature does not match");

  const auto payload_text = base64url_decode(payload64);
  auto claims = payload_text ? parse_object(*payload_text) : std::nullopt;
  if (!claims) return refuse("token payload is not a JSON object");

  bool malformed = false;
  const double now_s =
      std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway = static_cast<double>(options.leeway.count());
  const auto exp = numeric_date(*claims, "exp", malformed);
  if (exp && now_s >= *exp + leeway) return refuse("token has expired");
  if (!exp && !malformed && options.require_exp) return refuse("token has no `exp`");
  if (auto nbf = numeric_date(*claims, "nbf", malformed); nbf && now_s + leeway < *nbf)
    return refuse("token is not valid yet (nbf)");
  if (malformed) return refuse("token `exp` or `nbf` is not a number");
  if (options.issuer) {
    const boost::json::value* iss = claims->if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->get_string() != *options.issuer)
      return refuse("token `iss` is not the expected issuer");
  }
  if (options.audience) {
    // RFC 7519 section 4.1.3: a string, or an array of strings one of which must be ours.
    const boost::json::value* aud = claims->if_contains("aud");
    bool ours = false;
    if (aud != nullptr && aud->is_string()) ours = aud->get_string() == *options.audience;
    if (aud != nullptr && aud->is_array())
      for (const auto& a : aud->get_array()) ours = ours || (a.is_string() && a.get_string() == *options.audience);
    if (!ours) return refuse("token `aud` does not name the expected audience");
  }
  return JwtResult{std::move(claims), {}};
}

std::string sign_jwt(const boost::json::object& claims, std::string_view secret,
                     std::string_view algorithm) {
  const EVP_MD* md = digest_for(algorithm);
  if (md == nullptr) throw std::invalid_argument("unsupported JWT algorithm");
  boost::json::object header{{"alg", algorithm}, {"typ", "JWT"}};
  std::string signing_input = base64url_encode(boost::json::serialize(header)) + "." +
                              base64url_encode(boost::json::serialize(claims));
  const std::string signature = hmac(md, secret, signing_input);
  return signing_input + "." + base64url_encode(signature);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string raw = hmac(EVP_sha256(), key, data);
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> claim_text(const boost::json::object& claims, std::string_view name) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) return std::string(v->get_string());
  return boost::json::serialize(*v);
}

}  // namespace herald
