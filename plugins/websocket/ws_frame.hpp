// RFC 6455 framing for the server side: building unmasked server frames once (the same bytes
// go to every subscriber) and parsing masked client frames incrementally, with the limits the
// server enforces. Header-only and allocation-free on the parse path, for unit tests and fuzzing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "common/utf8.hpp"

namespace herald::websocket {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes used by the server (RFC 6455 section 7.4 and Pusher's 4000-4999 range).
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;
constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t bad_data = 1007;
constexpr std::uint16_t too_big = 1009;
constexpr std::uint16_t no_such_app = 4001;
constexpr std::uint16_t unauthorized = 4009;
constexpr std::uint16_t over_capacity = 4100;
constexpr std::uint16_t reconnect = 4200;
constexpr std::uint16_t pong_timeout = 4201;
}  // namespace close_code

// An immutable, shareable server frame: header + payload in one buffer.
using Frame = std::shared_ptr<const std::string>;

inline void append_frame_header(std::string& out, Opcode op, std::size_t size) {
  out += static_cast<char>(0x80 | static_cast<std::uint8_t>(op));  // FIN, no RSV, unmasked
  if (size < 126) {
    out += static_cast<char>(size);
  } else if (size <= 0xFFFF) {
    out += static_cast<char>(126);
    out += static_cast<char>((size >> 8) & 0xFF);
    out += static_cast<char>(size & 0xFF);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF);
  }
}

inline std::string encode_frame(Opcode op, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  append_frame_header(out, op, payload.size());
  out.append(payload);
  return out;
}

inline Frame make_frame(Opcode op, std::string_view payload) {
  return std::make_shared<const std::string>(encode_frame(op, payload));
}

// The payload of a frame made by make_frame/encode_frame (server frames are unmasked).
inline std::string_view frame_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  const auto len7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  const std::size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  return frame.size() < header ? std::string_view{} : frame.substr(header);
}

// A close frame; the reason is cut to fit the 125-byte control-frame limit.
inline std::string encode_close(std::uint16_t code, std::string_view reason) {
  if (reason.size() > 123) reason = reason.substr(0, 123);
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason);
  return encode_frame(Opcode::close, payload);
}

struct FrameHeader {
  bool fin = false;
  Opcode opcode = Opcode::text;
  std::uint64_t payload_size = 0;
  std::uint8_t mask[4] = {};
  std::size_t header_size = 0;
};

enum class ParseResult { need_more, ok, protocol_error, too_big };

// Parses one client frame header from `data`. Client frames must be masked, carry no RSV bits,
// use a known opcode, and control frames must be final and at most 125 bytes.
inline ParseResult parse_frame_header(const unsigned char* data, std::size_t size,
                                      std::size_t max_payload, FrameHeader& h) {
  if (size < 2) return ParseResult::need_more;
  const unsigned char b0 = data[0], b1 = data[1];
  if ((b0 & 0x70) != 0) return ParseResult::protocol_error;  // RSV1-3 without an extension
  const std::uint8_t op = b0 & 0x0F;
  const bool control = (op & 0x08) != 0;
  if (!(op <= 2 || (op >= 8 && op <= 10))) return ParseResult::protocol_error;
  if ((b1 & 0x80) == 0) return ParseResult::protocol_error;  // a client must mask
  h.fin = (b0 & 0x80) != 0;
  h.opcode = static_cast<Opcode>(op);
  std::uint64_t len = b1 & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    if (size < 4) return ParseResult::need_more;
    len = (std::uint64_t(data[2]) << 8) | data[3];
    pos = 4;
  } else if (len == 127) {
    if (size < 10) return ParseResult::need_more;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | data[2 + i];
    if (len >> 63) return ParseResult::protocol_error;
    pos = 10;
  }
  if (control && (!h.fin || len > 125)) return ParseResult::protocol_error;
  if (!control && len > max_payload) return ParseResult::too_big;
  if (size < pos + 4) return ParseResult::need_more;
  std::memcpy(h.mask, data + pos, 4);
  h.payload_size = len;
  h.header_size = pos + 4;
  return ParseResult::ok;
}

// Unmasks `size` bytes from `in` into `out` (may alias).
inline void unmask(const unsigned char* in, std::size_t size, const std::uint8_t mask[4],
                   char* out) noexcept {
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<char>(in[i] ^ mask[i & 3]);
}

using herald::plugins::valid_utf8;

}  // namespace herald::websocket
