// Fuzz target: the authorize request as the guards read it: the query string, headers, an
// application/x-www-form-urlencoded or JSON body (herald's AuthRequest, and the pusher guard's
// form/JSON field parsing and identity). Input: "QUERY\nName: value\n...\n\nBODY".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/auth_request.hpp"
#include "common/pusher/pusher_guard.hpp"

namespace gd = herald::pusher::guard_detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  herald::AuthRequest request;
  request.method = "POST";
  request.path = "/broadcasting/auth";
  std::size_t pos = text.find('\n');
  request.query = std::string(text.substr(0, pos));
  std::string_view rest = pos == std::string_view::npos ? std::string_view{} : text.substr(pos + 1);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    request.headers.emplace_back(std::string(line.substr(0, colon)),
                                 colon == std::string_view::npos ? std::string()
                                                                 : std::string(line.substr(colon + 1)));
  }
  request.body = std::string(rest);

  for (const char* name : {"channel_name", "socket_id", "topic", ""}) {
    (void)request.query_param(name);
    (void)request.form_field(name);
  }
  (void)request.header("content-type");
  (void)request.header("Authorization");

  for (bool json : {false, true}) {
    gd::Fields fields;
    std::string error;
    const bool ok = json ? gd::parse_json_body(request.body, fields, error)
                         : gd::parse_form(request.body, fields, error);
    if (!ok) continue;
    for (const char* name : {"socket_id", "channel_name", "channel_data", "user_data"}) {
      std::string field_error;
      if (auto value = gd::field(fields, name, field_error)) {
        (void)gd::valid_socket_id(*value);
        (void)gd::valid_channel_name(*value);
        (void)gd::parse_identity(*value);
      }
    }
  }
  gd::Fields query_fields;
  std::string error;
  (void)gd::parse_form(request.query, query_fields, error);
  return 0;
}
