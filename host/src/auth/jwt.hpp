// Verification of HMAC-signed JSON Web Tokens (RFC 7519, JWS compact form; HS256/384/512).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace herald {

struct JwtOptions {
  std::string secret;                                    // the HMAC key
  std::vector<std::string> algorithms{"HS256", "HS384", "HS512"};  // accepted `alg` values
  std::chrono::seconds leeway{0};                        // clock skew allowed for exp/nbf
  bool require_exp = true;  // a token without `exp` would be valid forever: refused by default
  std::optional<std::string> audience;  // when set, `aud` (a string or an array) must name it
  std::optional<std::string> issuer;    // when set, `iss` must equal it
};

// The shortest HMAC key a rule accepts (RFC 7518 section 3.2: at least the hash size, 256 bits
// for HS256); shorter secrets are guessable offline from any token.
inline constexpr size_t kMinJwtSecretBytes = 32;

// The verified claims, or why the token was refused (one line, never the token or the secret).
struct JwtResult {
  std::optional<boost::json::object> claims;
  std::string error;
  explicit operator bool() const noexcept { return claims.has_value(); }
};

// Checks structure, canonical unpadded base64url in every part (so one token has exactly one
// spelling), `alg` (only the accepted HMAC ones; `none` never), no `crit` header (no extension
// is understood), the signature (in constant time), `exp` (required unless `require_exp` is
// false) and `nbf` against `now`, and `aud`/`iss` when the options name them.
JwtResult verify_jwt(std::string_view token, const JwtOptions& options,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Creates a signed token (tests, and tools that mint tokens for clients).
std::string sign_jwt(const boost::json::object& claims, std::string_view secret,
                     std::string_view algorithm = "HS256");

// Hex HMAC-SHA256 of `data` with `key` (the `webhook` rule's X-Herald-Signature).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// A claim as text for comparisons: a string as is, any other JSON value as compact JSON
// (`42` -> "42"); nullopt when absent.
std::optional<std::string> claim_text(const boost::json::object& claims, std::string_view name);

}  // namespace herald
