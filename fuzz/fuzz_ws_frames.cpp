// Fuzz target: the websocket driver's Pusher protocol input: client frames (ws_frame.hpp:
// header parsing, limits, unmasking, fragmentation, UTF-8) and the Pusher messages they carry
// (JSON `event`/`data`, pusher:subscribe with auth and presence channel_data). The session
// class in ws_server.cpp needs a socket, so this mirrors its consume/on_frame/complete/
// on_message/subscribe steps over the same header-only helpers, in the same order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "common/pusher/pusher_rest.hpp"
#include "common/pusher/pusher_signing.hpp"
#include "websocket/ws_frame.hpp"

namespace {

namespace json = boost::json;
namespace ws = herald::websocket;

constexpr std::size_t kMaxMessage = 10 * 1024;  // small: reaches too_big quickly

const herald::pusher::Credentials& credentials() {
  static const herald::pusher::Credentials c{"1", "app-key", "app-secret"};
  return c;
}

void subscribe(const json::value& data) {
  const json::object* d = data.if_object();
  const json::value* ch = d ? d->if_contains("channel") : nullptr;
  if (ch == nullptr || !ch->is_string()) return;
  const std::string channel(ch->get_string());
  if (channel.size() > herald::pusher::kMaxChannelName || !herald::pusher::valid_channel(channel))
    return;
  const bool presence = channel.starts_with("presence-");
  std::string channel_data;
  if (channel.starts_with("private-") || presence) {
    if (presence) {
      const json::value* cd = d->if_contains("channel_data");
      if (cd == nullptr || !cd->is_string()) return;
      channel_data = std::string(cd->get_string());
    }
    const std::string expected =
        herald::pusher::channel_auth(credentials(), "123.456", channel, channel_data);
    const json::value* auth = d->if_contains("auth");
    // Accepted only with the right signature, which the harness also tries itself below.
    if (auth != nullptr && auth->is_string())
      (void)herald::pusher::constant_time_equals(auth->get_string(), expected);
  }
  if (presence) {
    boost::system::error_code ec;
    json::value parsed = json::parse(channel_data, ec);
    const json::object* cd = ec ? nullptr : parsed.if_object();
    const json::value* uid = cd ? cd->if_contains("user_id") : nullptr;
    if (uid != nullptr && (uid->is_int64() || uid->is_uint64())) (void)json::serialize(*uid);
    if (cd != nullptr)
      if (const json::value* info = cd->if_contains("user_info")) (void)json::serialize(*info);
  }
}

void on_message(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return;
  const json::value* ev = o->if_contains("event");
  if (ev == nullptr || !ev->is_string()) return;
  const std::string_view event = ev->get_string();
  json::value data;
  if (const json::value* d = o->if_contains("data")) {
    if (const json::string* s = d->if_string()) {
      json::value inner = json::parse(*s, ec);
      data = ec ? json::value(*s) : std::move(inner);
    } else {
      data = *d;
    }
  }
  if (event == "pusher:subscribe") return subscribe(data);
  if (event.starts_with("client-")) {
    const json::value* ch = o->if_contains("channel");
    if (ch != nullptr && ch->is_string()) (void)ws::encode_frame(ws::Opcode::text, json::serialize(*o));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The byte stream of one connection after the handshake.
  std::size_t pos = 0;
  bool in_message = false;
  ws::Opcode message_op = ws::Opcode::text;
  std::string fragments, text;
  while (pos < size) {
    ws::FrameHeader h;
    const ws::ParseResult r = ws::parse_frame_header(data + pos, size - pos, kMaxMessage, h);
    if (r != ws::ParseResult::ok) break;  // need_more (end of input), protocol_error, too_big
    if (size - pos - h.header_size < h.payload_size) break;
    text.resize(h.payload_size);
    ws::unmask(data + pos + h.header_size, h.payload_size, h.mask, text.data());
    pos += h.header_size + h.payload_size;
    if (h.opcode == ws::Opcode::ping) {
      (void)ws::make_frame(ws::Opcode::pong, text);
      continue;
    }
    if (h.opcode == ws::Opcode::pong) continue;
    if (h.opcode == ws::Opcode::close) {
      const std::uint16_t code = text.size() >= 2 ? std::uint16_t((std::uint8_t(text[0]) << 8) |
                                                                  std::uint8_t(text[1]))
                                                  : ws::close_code::normal;
      (void)ws::encode_close(code, {});
      break;
    }
    std::string whole;
    if (h.opcode == ws::Opcode::continuation) {
      if (!in_message || fragments.size() + text.size() > kMaxMessage) break;
      fragments += text;
      if (!h.fin) continue;
      in_message = false;
      whole.swap(fragments);
    } else {
      if (in_message) break;
      if (!h.fin) {
        in_message = true;
        message_op = h.opcode;
        fragments = text;
        continue;
      }
      message_op = h.opcode;
      whole = text;
    }
    if (message_op == ws::Opcode::binary) continue;
    if (!ws::valid_utf8(whole)) break;
    on_message(whole);
  }
  // The same bytes as one unframed message, so the JSON side is fuzzed directly too.
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (ws::valid_utf8(raw)) on_message(raw);
  return 0;
}
