// Pusher signing and the Pusher guard, operations per second, single thread. The peer is the
// official npm `pusher` library doing the same work (bench/pusher_auth/pusher_auth_peer.js);
// bench/pusher_auth/run.sh runs both and prints the ratios.
//
//   herald_bench_pusher_auth [--ms N]     prints "<case> <ops/s>" lines
//
// Cases (identical inputs on both sides):
//   rest_sign      signed_query for POST /apps/1/events with a 90-byte body (md5 + HMAC)
//   private_auth   channel_auth("1234.1234", "private-orders.42")
//   presence_auth  channel_data JSON built from a user, then its signature
//   user_auth      user_data JSON built from a user, then its signature
//   guard_private  the whole guard: form body in, rule callback, JSON response out
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "common/pusher/pusher_guard.hpp"
#include "common/pusher/pusher_signing.hpp"

namespace {

using Clock = std::chrono::steady_clock;

volatile size_t g_sink = 0;  // keeps results alive so the work is not optimized away

// Runs `op` in batches until `ms` milliseconds have passed; returns operations per second.
template <class F>
double rate(int ms, F&& op) {
  for (int i = 0; i < 1000; ++i) op();  // warm-up
  size_t n = 0;
  const auto start = Clock::now();
  const auto until = start + std::chrono::milliseconds(ms);
  auto now = start;
  while (now < until) {
    for (int i = 0; i < 256; ++i) op();
    n += 256;
    now = Clock::now();
  }
  return double(n) / std::chrono::duration<double>(now - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--ms") == 0) ms = std::atoi(argv[i + 1]);

  const herald::pusher::Credentials app{"1", "278d425bdf160c739803", "7ad3773142a6692b25b8"};
  const std::string body =
      R"({"name":"order.shipped","channels":["orders.42"],"data":"{\"id\":42,\"status\":\"shipped\"}"})";

  std::printf(
      "rest_sign %.0f\n", rate(ms, [&] {
        g_sink =
            g_sink +
            herald::pusher::signed_query(app, "POST", "/apps/1/events", body, 1700000000).size();
      }));
  std::printf("private_auth %.0f\n", rate(ms, [&] {
                g_sink = g_sink +
                         herald::pusher::channel_auth(app, "1234.1234", "private-orders.42").size();
              }));
  const boost::json::object info{{"name", "Ann"}, {"role", "admin"}};
  std::printf(
      "presence_auth %.0f\n", rate(ms, [&] {
        boost::json::object data;
        data["user_id"] = 42;
        data["user_info"] = info;
        const std::string channel_data = boost::json::serialize(data);
        g_sink =
            g_sink +
            herald::pusher::channel_auth(app, "1234.1234", "presence-room.7", channel_data).size();
      }));
  std::printf("user_auth %.0f\n", rate(ms, [&] {
                boost::json::object data;
                data["id"] = "42";
                data["user_info"] = info;
                const std::string user_data = boost::json::serialize(data);
                g_sink = g_sink + herald::pusher::user_auth(app, "1234.1234", user_data).size();
              }));

  // The guard with a host whose rules allow everything (the host's own rule matching is not
  // the subject here), on the form body pusher-js posts.
  herald_host_api api{};
  api.struct_size = sizeof api;
  api.host_abi_version = HERALD_ABI_VERSION;
  api.log = [](void*, int, herald_str) {};
  api.log_enabled = [](void*, int) { return 0; };
  api.authorize_topic = [](void*, const herald_request*, herald_str, herald_param_fn, void*,
                           herald_error*) { return int(HERALD_TOPIC_ALLOW); };
  std::string k = "key", kv = app.key, s = "secret", sv = app.secret;
  herald_config_entry entries[] = {{herald::sdk::str(k), herald::sdk::str(kv), 1},
                                   {herald::sdk::str(s), herald::sdk::str(sv), 1}};
  herald_config config{};
  config.struct_size = sizeof config;
  config.entries = entries;
  config.entry_count = 2;
  const herald::pusher::PusherGuard guard{herald::sdk::Host(&api), herald::sdk::Config(&config)};
  const std::string form = "socket_id=1234.1234&channel_name=private-orders.42";
  herald_header headers[] = {
      {herald::sdk::str("Content-Type"), herald::sdk::str("application/x-www-form-urlencoded")}};
  herald_request req{};
  req.struct_size = sizeof req;
  req.method = herald::sdk::str("POST");
  req.headers = headers;
  req.header_count = 1;
  req.body = herald::sdk::str(form);
  herald_auth_result result{};
  result.struct_size = sizeof result;
  result.set_success = [](void*, int) {};
  result.add_topic = [](void*, herald_str) {};
  result.set_attributes = [](void*, herald_str) {};
  result.set_response = [](void*, int, herald_str b) { g_sink = g_sink + b.size; };
  result.add_response_header = [](void*, herald_str, herald_str) {};
  std::printf("guard_private %.0f\n", rate(ms, [&] {
                guard.authorize(herald::sdk::Request(&req), herald::sdk::AuthResult(&result));
              }));
  return g_sink == 0 ? 1 : 0;
}
