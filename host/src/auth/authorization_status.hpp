// Spiral's AuthorizationStatus: the immutable outcome of a guard's decision.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace herald {

// A full HTTP response a guard wants returned verbatim (Spiral: ResponseInterface).
struct AuthResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool operator==(const AuthResponse&) const = default;
};

class AuthorizationStatus {
 public:
  using Topics = std::optional<std::vector<std::string>>;

  AuthorizationStatus(bool success, Topics topics, std::string attributes_json = "{}",
                      std::optional<AuthResponse> response = std::nullopt)
      : success_(success),
        topics_(std::move(topics)),
        attributes_(std::move(attributes_json)),
        response_(std::move(response)) {}

  bool success() const noexcept { return success_; }
  const Topics& topics() const noexcept { return topics_; }
  // Attributes as a JSON object text (Spiral: array $attributes).
  const std::string& attributes() const noexcept { return attributes_; }
  const std::optional<AuthResponse>& response() const noexcept { return response_; }
  bool has_response() const noexcept { return response_.has_value(); }

 private:
  bool success_;
  Topics topics_;
  std::string attributes_;
  std::optional<AuthResponse> response_;
};

}  // namespace herald
