// listen_conflicts: connections whose `listen` address collides with another connection's or
// with `herald serve`'s own, found from the config alone (`herald check`, `herald serve`).
#include <map>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/broadcast_config.hpp"
#include "server/server_config.hpp"

namespace herald {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

BroadcastConfig parse(std::string_view text) {
  return BroadcastConfig::parse(text, "b.toml", "/etc/herald",
                                [](std::string_view) -> std::optional<std::string> { return {}; });
}

ListenAddress address(const std::string& text) { return parse_listen_address(text, "test"); }

std::vector<std::string> conflicts(std::string_view toml,
                                   std::optional<ListenAddress> server = address("127.0.0.1:8080")) {
  const BroadcastConfig config = parse(toml);
  return listen_conflicts(config, server, server_listen_origin(config));
}

TEST(ListenConflicts, TwoConnectionsOnOneAddress) {
  EXPECT_THAT(conflicts(R"(default = "a"
[connections.a]
driver = "websocket"
listen = "127.0.0.1:6001"
[connections.b]
driver = "websocket"
listen = "localhost:6001"
)"),
              ElementsAre("b.toml:7:10: connections `a` (b.toml:4:10) and `b` both listen on "
                          "127.0.0.1:6001; give each its own address"));
}

TEST(ListenConflicts, AConnectionOnTheServersAddressFromTheFileOrTheDefault) {
  EXPECT_THAT(conflicts(R"(default = "ws"
[server]
listen = "127.0.0.1:9000"
[connections.ws]
driver = "websocket"
listen = "127.0.0.1:9000"
)",
                        address("127.0.0.1:9000")),
              ElementsAre("b.toml:6:10: connection `ws` and `herald serve` (`[server] listen` "
                          "(b.toml:3:10)) both listen on 127.0.0.1:9000; give each its own "
                          "address"));
  EXPECT_THAT(conflicts("default = \"ws\"\n[connections.ws]\ndriver = \"websocket\"\n"
                        "listen = \"127.0.0.1:8080\"\n"),
              ElementsAre("b.toml:4:10: connection `ws` and `herald serve` (the default "
                          "`[server] listen`) both listen on 127.0.0.1:8080; give each its own "
                          "address"));
}

TEST(ListenConflicts, AWildcardOverlapsEveryAddressOfItsFamily) {
  EXPECT_THAT(conflicts(R"(default = "a"
[connections.a]
driver = "websocket"
listen = "0.0.0.0:6001"
[connections.b]
driver = "websocket"
listen = "127.0.0.1:6001"
[connections.c]
driver = "websocket"
listen = "[::1]:6001"
[connections.d]
driver = "websocket"
listen = "[::]:6001"
)"),
              ElementsAre("b.toml:7:10: connections `a` (b.toml:4:10) and `b` listen on "
                          "overlapping addresses 0.0.0.0:6001 and 127.0.0.1:6001; give each its "
                          "own address",
                          "b.toml:13:10: connections `c` (b.toml:10:10) and `d` listen on "
                          "overlapping addresses [::1]:6001 and [::]:6001; give each its own "
                          "address"));
}

TEST(ListenConflicts, NoneForOtherPortsPortZeroUnparsableOrNonStringValues) {
  EXPECT_THAT(conflicts(R"(default = "a"
[connections.a]
driver = "websocket"
listen = "127.0.0.1:6001"
[connections.b]
driver = "websocket"
listen = "127.0.0.1:6002"
[connections.c]
driver = "websocket"
listen = "127.0.0.1:0"
[connections.d]
driver = "websocket"
listen = "127.0.0.1:0"
[connections.e]
driver = "websocket"
listen = "not an address:6001"
[connections.f]
driver = "websocket"
listen = 6001
[connections.g]
driver = "log"
[connections.h]
driver = "websocket"
listen = "127.0.0.2:6001"
)"),
              IsEmpty());
  // The server on port 0 (any free port) never collides either.
  EXPECT_THAT(conflicts("default = \"a\"\n[connections.a]\ndriver = \"x\"\nlisten = \"127.0.0.1:0\"\n",
                        address("127.0.0.1:0")),
              IsEmpty());
}

TEST(ListenConflicts, WithoutAServerOnlyConnectionsAreCompared) {
  EXPECT_THAT(conflicts("default = \"a\"\n[connections.a]\ndriver = \"x\"\n"
                        "listen = \"127.0.0.1:8080\"\n",
                        std::nullopt),
              IsEmpty());
  EXPECT_THAT(conflicts("default = \"a\"\n", std::nullopt), IsEmpty());
}

TEST(ListenConflicts, OneLinePerConnectionAgainstTheFirstItCollidesWith) {
  EXPECT_THAT(conflicts(R"(default = "a"
[connections.a]
driver = "x"
listen = "127.0.0.1:7000"
[connections.b]
driver = "x"
listen = "127.0.0.1:7000"
[connections.c]
driver = "x"
listen = "127.0.0.1:7000"
)"),
              ElementsAre("b.toml:7:10: connections `a` (b.toml:4:10) and `b` both listen on "
                          "127.0.0.1:7000; give each its own address",
                          "b.toml:10:10: connections `a` (b.toml:4:10) and `c` both listen on "
                          "127.0.0.1:7000; give each its own address"));
}

}  // namespace
}  // namespace herald
