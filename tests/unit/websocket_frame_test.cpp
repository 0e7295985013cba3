// The websocket driver's RFC 6455 framing and settings (plugins/websocket), in-process.
#include <gtest/gtest.h>

#include <string>

#include "websocket/websocket_settings.hpp"
#include "websocket/ws_frame.hpp"

namespace {

using namespace herald::websocket;

// A masked client frame as a browser sends it.
std::string client_frame(std::uint8_t first, std::string_view payload, bool masked = true) {
  std::string out;
  out += static_cast<char>(first);
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out += static_cast<char>(mask_bit | payload.size());
  } else if (payload.size() <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> shift) & 0xFF);
  }
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (masked) out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += masked ? static_cast<char>(payload[i] ^ mask[i & 3]) : payload[i];
  return out;
}

ParseResult parse(const std::string& bytes, FrameHeader& h, std::size_t max = 1024) {
  return parse_frame_header(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                            max, h);
}

TEST(WebsocketFrame, ServerFramesAreUnmaskedWithTheRightLengthForm) {
  EXPECT_EQ(encode_frame(Opcode::text, "hi"), std::string("\x81\x02hi", 4));
  const std::string medium(300, 'x');
  const std::string m = encode_frame(Opcode::text, medium);
  EXPECT_EQ(static_cast<unsigned char>(m[1]), 126);
  EXPECT_EQ(m.size(), 4 + medium.size());
  const std::string big(70000, 'y');
  const std::string b = encode_frame(Opcode::binary, big);
  EXPECT_EQ(static_cast<unsigned char>(b[0]), 0x82);
  EXPECT_EQ(static_cast<unsigned char>(b[1]), 127);
  EXPECT_EQ(b.size(), 10 + big.size());
}

TEST(WebsocketFrame, CloseFramesCarryTheCodeAndACutReason) {
  const std::string c = encode_close(4100, "Over capacity");
  ASSERT_GE(c.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(c[0]), 0x88);
  EXPECT_EQ((static_cast<unsigned char>(c[2]) << 8) | static_cast<unsigned char>(c[3]), 4100);
  EXPECT_EQ(c.substr(4), "Over capacity");
  EXPECT_LE(encode_close(1000, std::string(400, 'r')).size(), 2u + 125u);
}

TEST(WebsocketFrame, ParsesAndUnmasksAClientTextFrame) {
  const std::string bytes = client_frame(0x81, "{\"event\":\"pusher:ping\"}");
  FrameHeader h;
  ASSERT_EQ(parse(bytes, h), ParseResult::ok);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, Opcode::text);
  EXPECT_EQ(h.header_size, 6u);
  ASSERT_EQ(h.payload_size, 23u);
  std::string out(h.payload_size, '\0');
  unmask(reinterpret_cast<const unsigned char*>(bytes.data()) + h.header_size, h.payload_size,
         h.mask, out.data());
  EXPECT_EQ(out, "{\"event\":\"pusher:ping\"}");
}

TEST(WebsocketFrame, AsksForMoreUntilTheHeaderIsComplete) {
  const std::string bytes = client_frame(0x81, std::string(300, 'a'));
  FrameHeader h;
  for (std::size_t n = 0; n < 8; ++n)
    EXPECT_EQ(parse(bytes.substr(0, n), h), ParseResult::need_more) << n;
  EXPECT_EQ(parse(bytes.substr(0, 8), h), ParseResult::ok);
  EXPECT_EQ(h.payload_size, 300u);
}

TEST(WebsocketFrame, RefusesWhatAClientMustNotSend) {
  FrameHeader h;
  EXPECT_EQ(parse(client_frame(0x81, "x", false), h), ParseResult::protocol_error);  // unmasked
  EXPECT_EQ(parse(client_frame(0xC1, "x"), h), ParseResult::protocol_error);         // RSV1
  EXPECT_EQ(parse(client_frame(0x83, "x"), h), ParseResult::protocol_error);         // opcode 3
  EXPECT_EQ(parse(client_frame(0x09, "x"), h), ParseResult::protocol_error);  // fragmented ping
  EXPECT_EQ(parse(client_frame(0x89, std::string(126, 'p')), h), ParseResult::protocol_error);
  EXPECT_EQ(parse(client_frame(0x81, std::string(1025, 'x')), h), ParseResult::too_big);
  // A header announcing 2^63 bytes is refused before anything is read.
  std::string huge = "\x81\xFF";
  huge += std::string("\x80\x00\x00\x00\x00\x00\x00\x00", 8);
  huge += "abcd";
  EXPECT_EQ(parse(huge, h), ParseResult::protocol_error);
  std::string large = "\x81\xFF";
  large += std::string("\x00\x00\x00\x01\x00\x00\x00\x00", 8);
  large += "abcd";
  EXPECT_EQ(parse(large, h), ParseResult::too_big);
}

TEST(WebsocketFrame, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // over U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));          // cut short
  EXPECT_FALSE(valid_utf8("\xFF"));
}

TEST(WebsocketSettings, ListenAddressesParseOrSayWhy) {
  EXPECT_EQ(parse_listen("127.0.0.1:6001", "`listen`").port, 6001);
  EXPECT_EQ(parse_listen("[::1]:6001", "`listen`").host, "::1");
  EXPECT_EQ(parse_listen("localhost:0", "`listen`").port, 0);
  for (const char* bad : {"nonsense", "127.0.0.1:99999", ":6001", "::1:6001", "a b:1", "h:"})
    EXPECT_THROW(parse_listen(bad, "`listen`"), herald::sdk::ConfigError) << bad;
}

}  // namespace
