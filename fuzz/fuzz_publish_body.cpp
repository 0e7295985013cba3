// Fuzz target: the body of POST /api/publish ({"topic(s)", "message(s)", "connection"}) and the
// X-Socket-ID rewrite of its messages.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/api_service.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    herald::PublishCommand command = herald::parse_publish_body(body);
    try {
      herald::add_socket(command.messages, "123.456");
    } catch (const std::exception&) {
    }
  } catch (const std::exception&) {
  }
  return 0;
}
