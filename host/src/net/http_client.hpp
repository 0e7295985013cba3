// A small blocking HTTP client on libcurl for the host's own outgoing calls: the `webhook`
// topic rule and `herald publish --server`. One reused handle per thread keeps connections
// alive between calls.
#pragma once

#include <chrono>
#include <cstddef>
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
  // The answer's body is read up to this many bytes; a longer one fails the call (the peer
  // must not be able to make the host buffer without bound).
  std::size_t max_response_bytes = 1024 * 1024;
  // https: a PEM file of CA certificates to trust instead of the system store (empty: the
  // system store). Certificates and host names are always verified.
  std::string ca_file;
};

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// Transport failure (cannot connect, timeout, bad URL): one line, never the body or headers.
class HttpClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  HttpClientError(const std::string& what, bool untrusted)
      : std::runtime_error(what), untrusted_certificate_(untrusted) {}
  // The server's TLS certificate could not be verified (unknown CA, wrong name, expired).
  bool untrusted_certificate() const noexcept { return untrusted_certificate_; }

 private:
  bool untrusted_certificate_ = false;
};

// Performs the call; any HTTP status is an answer. Throws HttpClientError (also for an answer
// body over `max_response_bytes`).
HttpAnswer http_call(const HttpCall& call);

}  // namespace herald
