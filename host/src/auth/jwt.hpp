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
};

// The verified claims, or why the token was refused (one line, never the token or the secret).
struct JwtResult {
  std::optional<boost::json::object> claims;
  std::string error;
  explicit operator bool() const noexcept { return claims.has_value(); }
};

// Checks structure, `alg` (only the accepted HMAC ones; `none` never), the signature (in
// constant time), and `exp`/`nbf` against `now` (seconds since the epoch).
JwtResult verify_jwt(std::string_view token, const JwtOptions& options,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Creates a signed token (tests, and tools that mint tokens for clients).
std::string sign_jwt(const boost::json::object& claims, std::string_view secret,
                     std::string_view algorithm = "HS256");

// A claim as text for comparisons: a string as is, any other JSON value as compact JSON
// (`42` -> "42"); nullopt when absent.
std::optional<std::string> claim_text(const boost::json::object& claims, std::string_view name);

}  // namespace herald
