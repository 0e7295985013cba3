// `herald publish --server URL`: posts to a running `herald serve` instead of publishing in
// this process (how a shell reaches the subscribers of the server's own connections).
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "net/http_client.hpp"

namespace herald::cli {
namespace {

// 4xx: the request was wrong (usage/config: exit 2); anything else: exit 1.
int post(const HttpCall& base, const PublishArgs& args, const std::vector<std::string>& messages,
         std::ostream& err) {
  boost::json::object body;
  boost::json::array topics, list;
  for (const auto& t : args.topics) topics.emplace_back(t);
  for (const auto& m : messages) list.emplace_back(m);
  body["topics"] = std::move(topics);
  body["messages"] = std::move(list);
  if (args.connection) body["connection"] = *args.connection;
  HttpCall call = base;
  call.body = boost::json::serialize(body);
  HttpAnswer answer;
  try {
    answer = http_call(call);
  } catch (const HttpClientError& e) {
    err << "herald: cannot reach the server: " << e.what()
        << (e.untrusted_certificate() && base.ca_file.empty()
                ? " (pass --ca-file or HERALD_CA_FILE to trust its CA)"
                : "")
        << "\n";
    return kDriverFailed;
  }
  if (answer.status >= 200 && answer.status < 300) return kOk;
  std::string reason = answer.body;
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(answer.body, ec);
  if (!ec && parsed.is_object())
    if (const auto* e = parsed.get_object().if_contains("error"); e && e->is_string())
      reason = std::string(e->get_string());
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
  err << "herald: server answered " << answer.status << ": " << reason << "\n";
  return answer.status >= 400 && answer.status < 500 ? kUsage : kDriverFailed;
}

}  // namespace

int publish_remote(const PublishArgs& args, const RemoteArgs& remote, std::istream& in,
                   std::ostream& err) {
  check_publish_args(args);
  std::string url = remote.server;
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  HttpCall call;
  call.url = url + "/api/publish";
  call.headers = {{"Content-Type", "application/json"}};
  if (remote.api_key && !remote.api_key->empty())
    call.headers.emplace_back("Authorization", "Bearer " + *remote.api_key);
  call.timeout = std::chrono::milliseconds(30000);
  if (!remote.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(remote.ca_file, ec))
      throw InvalidArgumentException("--ca-file `" + remote.ca_file + "` is not a readable file");
    call.ca_file = remote.ca_file;
  }
  if (!args.messages.empty()) return post(call, args, args.messages, err);
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (const int rc = post(call, args, {line}, err); rc != kOk) {
      err << "herald: stopped at stdin line " << line_number << "\n";
      return rc;
    }
  }
  return kOk;
}

}  // namespace herald::cli
