// A small blocking HTTP client on libcurl for the host's own outgoing calls: the `webhook`
// topic rule and `herald publish --server`. One reused handle per thread keeps connections
// alive between calls.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace herald {

struct HttpCall {
  std::string method = "POST";
  std::string url;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5000};          // the whole call
  std::chrono::milliseconds connect_timeout{2000};  // the TCP (and TLS) connect
};

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// Transport failure (cannot connect, timeout, bad URL): one line, never the body or headers.
class HttpClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Performs the call; any HTTP status is an answer. Throws HttpClientError.
HttpAnswer http_call(const HttpCall& call);

}  // namespace herald
