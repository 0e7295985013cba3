// Fuzz target: JWT verification (structure, base64url, header, HMAC, claims). The input is
// verified as a token, and, when it is a JSON object, signed as claims and verified again (the
// fuzzer cannot forge an HMAC, this reaches the claim checks behind the signature).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "auth/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const herald::JwtOptions strict = [] {
    herald::JwtOptions o;
    o.secret = "0123456789abcdef0123456789abcdef";
    o.audience = "herald";
    o.issuer = "https://issuer.example";
    o.leeway = std::chrono::seconds(5);
    return o;
  }();
  static const herald::JwtOptions lax = [] {
    herald::JwtOptions o;
    o.secret = "0123456789abcdef0123456789abcdef";
    o.require_exp = false;
    return o;
  }();
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  (void)herald::verify_jwt(text, strict, now);
  (void)herald::verify_jwt(text, lax, now);

  boost::system::error_code ec;
  boost::json::value claims = boost::json::parse(text, ec);
  if (!ec && claims.is_object()) {
    for (const char* alg : {"HS256", "HS512"}) {
      const std::string token = herald::sign_jwt(claims.get_object(), lax.secret, alg);
      const herald::JwtResult result = herald::verify_jwt(token, lax, now);
      if (result) (void)herald::claim_text(*result.claims, "sub");
      (void)herald::verify_jwt(token, strict, now);
    }
  }
  return 0;
}
