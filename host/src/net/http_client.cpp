#include "net/http_client.hpp"

#include <memory>
#include <mutex>

#include <curl/curl.h>

namespace herald {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

struct BodySink {
  std::string* body;
  std::size_t limit;
  bool over_limit = false;
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (size * count > sink->limit - sink->body->size()) {
    sink->over_limit = true;
    return 0;  // curl stops the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, size * count);
  return size * count;
}

// The URL without userinfo or query, for error messages (they may carry secrets).
std::string redacted(const std::string& url) {
  std::string out = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = out.find("://");
  const size_t at = out.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t slash = out.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme != std::string::npos && at != std::string::npos && (slash == std::string::npos || at < slash))
    out.erase(scheme + 3, at - scheme - 2);
  return out;
}

}  // namespace

HttpAnswer http_call(const HttpCall& call) {
  init_curl_once();
  thread_local std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  CURL* curl = handle.get();
  if (curl == nullptr) throw HttpClientError("cannot create an HTTP client (libcurl)");
  curl_easy_reset(curl);  // keeps live connections, drops the previous call's options

  std::unique_ptr<curl_slist, HeaderListDeleter> headers;
  for (const auto& [name, value] : call.headers) {
    const std::string line = name + ": " + value;
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) throw HttpClientError("out of memory building HTTP headers");
    (void)headers.release();
    headers.reset(next);
  }
  // No "Expect: 100-continue" round trip for larger bodies.
  curl_slist* next = curl_slist_append(headers.get(), "Expect:");
  (void)headers.release();
  headers.reset(next);

  HttpAnswer answer;
  BodySink sink{&answer.body, call.max_response_bytes};
  // Lives as long as the handle: curl keeps the ERRORBUFFER pointer and may write to it after
  // perform returns (e.g. when the thread_local handle closes its connections at thread exit).
  thread_local char error[CURL_ERROR_SIZE];
  error[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  if (call.method == "POST" || !call.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(call.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  // Verification is curl's default; said explicitly so no reset or build default turns it off.
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!call.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, call.ca_file.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  // Drop every pointer into this frame: the handle outlives the call.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  const std::string reason = error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  if (sink.over_limit)
    throw HttpClientError(redacted(call.url) + ": the answer is larger than " +
                          std::to_string(call.max_response_bytes) + " bytes");
  if (rc == CURLE_PEER_FAILED_VERIFICATION)
    throw HttpClientError(redacted(call.url) + ": the server's TLS certificate is not trusted: " +
                              reason,
                          true);
  if (rc != CURLE_OK) throw HttpClientError(redacted(call.url) + ": " + reason);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace herald
