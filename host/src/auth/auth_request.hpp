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
};

}  // namespace herald
