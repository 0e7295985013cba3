// An HTTP request as the authorization machinery sees it (Spiral: ServerRequestInterface).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

struct AuthRequest {
  std::string method = "GET";
  std::string path;
  std::string query;  // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;

  // First header with this name, compared case-insensitively (HTTP semantics).
  std::optional<std::string_view> header(std::string_view name) const;
  // First query parameter with this name, percent-decoded ('+' is a space).
  std::optional<std::string> query_param(std::string_view name) const;
  // First field of an application/x-www-form-urlencoded body, decoded; nullopt for other
  // content types.
  std::optional<std::string> form_field(std::string_view name) const;
};

}  // namespace herald
