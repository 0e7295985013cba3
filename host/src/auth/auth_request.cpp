#include "auth/auth_request.hpp"

#include "core/text.hpp"

namespace herald {

// HTTP field names are ASCII tokens, so ASCII folding is the whole of their case rules.
std::optional<std::string_view> AuthRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace herald
