#include "auth/auth_request.hpp"

#include "core/text.hpp"

namespace herald {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; a malformed escape is kept as written.
std::string form_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() &&
               hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The decoded value of the first `name=value` pair in `encoded` ("a=1&b=2").
std::optional<std::string> form_value(std::string_view encoded, std::string_view name) {
  while (!encoded.empty()) {
    const size_t amp = encoded.find('&');
    const std::string_view pair = encoded.substr(0, amp);
    encoded = amp == std::string_view::npos ? std::string_view{} : encoded.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (form_decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace

// HTTP field names are ASCII tokens, so ASCII folding is the whole of their case rules.
std::optional<std::string_view> AuthRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string> AuthRequest::query_param(std::string_view name) const {
  return form_value(query, name);
}

std::optional<std::string> AuthRequest::form_field(std::string_view name) const {
  const auto type = header("Content-Type");
  if (!type) return std::nullopt;
  const std::string_view media = type->substr(0, type->find(';'));
  if (!iequals(trim(media), "application/x-www-form-urlencoded")) return std::nullopt;
  return form_value(body, name);
}

}  // namespace herald
