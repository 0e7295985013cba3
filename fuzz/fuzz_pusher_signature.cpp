// Fuzz target: Pusher REST request signatures (pusher_signing.hpp), as the websocket driver's
// REST API verifies them (Server::Impl::verify_signature in ws_server.cpp, which needs a running
// server, mirrored here step by step): the query string parsed as a form, duplicate and
// required parameters, auth_timestamp, body_md5, the string to sign and the constant-time HMAC
// comparison. Input: "METHOD PATH?QUERY\nBODY". Also base64 decoding and the auth helpers.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/pusher/pusher_guard.hpp"
#include "common/pusher/pusher_signing.hpp"

namespace {

namespace pusher = herald::pusher;
constexpr std::int64_t kNow = 1700000000;

std::optional<std::string> verify(std::string_view method, std::string_view path,
                                  std::string_view query, std::string_view body,
                                  const pusher::Credentials& c) {
  pusher::guard_detail::Fields fields;
  std::string error;
  if (!pusher::guard_detail::parse_form(query, fields, error)) return error;
  std::optional<std::string> signature;
  std::vector<std::pair<std::string, std::string>> params;
  for (auto& [k, v] : fields) {
    if (k == "auth_signature") {
      if (signature) return std::string("twice");
      signature = v;
    } else {
      params.emplace_back(k, v);
    }
  }
  std::sort(params.begin(), params.end());
  const std::string *key = nullptr, *timestamp = nullptr, *version = nullptr, *md5 = nullptr;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0 && params[i].first == params[i - 1].first) return std::string("twice");
    const auto& [k, v] = params[i];
    if (k == "auth_key") key = &v;
    if (k == "auth_timestamp") timestamp = &v;
    if (k == "auth_version") version = &v;
    if (k == "body_md5") md5 = &v;
  }
  if (!signature || key == nullptr || timestamp == nullptr || version == nullptr)
    return std::string("unsigned");
  if (*key != c.key) return std::string("unknown auth_key");
  if (*version != "1.0") return std::string("auth_version");
  std::int64_t ts = 0;
  if (timestamp->empty() || timestamp->size() > 12) return std::string("bad auth_timestamp");
  for (char ch : *timestamp) {
    if (ch < '0' || ch > '9') return std::string("bad auth_timestamp");
    ts = ts * 10 + (ch - '0');
  }
  if (ts < kNow - 600 || ts > kNow + 600) return std::string("clock");
  if (!body.empty() &&
      (md5 == nullptr || !pusher::constant_time_equals(*md5, pusher::md5_hex(body))))
    return std::string("body_md5");
  std::string to_sign;
  for (char ch : method) to_sign += (ch >= 'a' && ch <= 'z') ? char(ch - 'a' + 'A') : ch;
  to_sign += '\n';
  to_sign += path;
  to_sign += '\n';
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0) to_sign += '&';
    to_sign += params[i].first;
    to_sign += '=';
    to_sign += params[i].second;
  }
  if (!pusher::constant_time_equals(*signature, pusher::hmac_sha256_hex(c.secret, to_sign)))
    return std::string("invalid signature");
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pusher::Credentials c{"1", "app-key", "app-secret"};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = text.find('\n');
  const std::string_view line = text.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  const std::size_t sp = line.find(' ');
  const std::string_view method = line.substr(0, sp);
  const std::string_view target = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  (void)verify(method, path, query, body, c);

  // What a client signs for these parameters must verify (round trip through signed_query).
  pusher::guard_detail::Fields fields;
  std::string error;
  if (query.size() < 512 && pusher::guard_detail::parse_form(query, fields, error)) {
    auto plain = [](std::string_view s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '.' || ch == '-';
      });
    };
    const bool simple = std::all_of(fields.begin(), fields.end(), [&](const auto& f) {
      return plain(f.first) && plain(f.second);
    }) && plain(method) && std::all_of(path.begin(), path.end(), [](char ch) { return ch != '\n'; });
    try {
      const std::string signed_ = pusher::signed_query(c, method, path, body, kNow, fields);
      // A request the library signs verifies, when nothing in it needs URL encoding.
      if (simple && verify(method, path, signed_, body, c).has_value()) std::abort();
    } catch (const std::invalid_argument&) {  // a reserved or repeated parameter
    }
  }
  std::string decoded;
  (void)pusher::base64_decode(text, decoded);
  (void)pusher::channel_auth(c, "1.2", line, body);
  (void)pusher::user_auth(c, "1.2", body);
  return 0;
}
