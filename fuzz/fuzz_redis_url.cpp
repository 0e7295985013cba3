// Fuzz target: Redis URLs (redis://[[user]:password@]host[:port][/db], unix://...), shared by
// the `redis` driver and the websocket driver's bus. Also checks the redaction promise: a
// parsed password never shapes masked_url(), and no error repeats a password.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/redis/redis_endpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  try {
    const herald::redis::Endpoint e = herald::redis::parse_url(url, "bus_url");
    const std::string masked = e.masked_url();
    (void)e.address();
    // The masked form does not depend on the password at all (a substring test would trip on
    // a password that happens to equal the user name or host).
    if (!e.password.empty()) {
      herald::redis::Endpoint other = e;
      other.password = "a-different-password";
      if (other.masked_url() != masked) std::abort();
    }
    std::string bulk;
    herald::redis::append_bulk(bulk, e.password, e.username);
  } catch (const herald::sdk::ConfigError& error) {
    // The same URL with a known password: the error must not repeat it.
    const std::string marker = "Zq9-MARKER-9qZ";
    const std::string_view rest = url.substr(0, 64);
    const std::string with_password = "redis://user:" + marker + "/" + std::string(rest) + "@h:1";
    try {
      (void)herald::redis::parse_url(with_password);
    } catch (const herald::sdk::ConfigError& e2) {
      if (std::string_view(e2.what()).find(marker) != std::string_view::npos) std::abort();
    }
  }
  return 0;
}
