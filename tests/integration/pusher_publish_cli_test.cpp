// `herald publish` and `herald check` (the real binary) with a `pusher` connection against the
// signature-checking Pusher REST stand-in: delivery, and one clear stderr line with exit code 1
// when the peer is down, slow or refuses, or the data is too large; exit 2 for bad settings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "background_process.hpp"
#include "cli_test_support.hpp"
#include "pusher_test_server.hpp"
#include "test_files.hpp"

namespace herald::cli_test {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing_support::PusherTestServer;
using testing_support::TempDir;

const fs::path kHerald = HERALD_TEST_BINARY;

class PusherCli : public ::testing::Test {
 protected:
  fs::path config(const std::string& settings) {
    return dir_.write("broadcasting.toml",
                      "default = \"p\"\n\n[connections.p]\ndriver = \"pusher\"\n" + settings);
  }
  // The secret comes from the environment, as a deployment would do it.
  std::string good_settings(std::uint16_t port) const {
    return "app_id = \"4242\"\nkey = \"test-app-key\"\nsecret = \"${PUSHER_SECRET}\"\n"
           "scheme = \"http\"\nhost = \"127.0.0.1\"\nport = " +
           std::to_string(port) + "\nretry_backoff_ms = 10\n";
  }

  ProcessResult herald(const fs::path& file, std::vector<std::string> args,
                       std::string secret = "test-app-secret") {
    args.insert(args.begin(), {"--config", file.string()});
    RunOptions options;
    options.env = {{"PUSHER_SECRET", std::move(secret)}};
    options.cwd = dir_.path();
    return RunProcess(kHerald, args, options);
  }

  static std::string describe(const ProcessResult& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (TIMED OUT)" : "") +
           "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
  }

  template <typename Matcher>
  static void expect_failure(const ProcessResult& r, int code, const Matcher& matcher) {
    EXPECT_FALSE(r.timed_out) << describe(r);
    EXPECT_EQ(r.exit_code, code) << describe(r);
    EXPECT_EQ(r.out, "");
    const auto lines = testing_support::split_lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << describe(r);
    EXPECT_THAT(lines[0], AllOf(StartsWith("herald: "), matcher));
    EXPECT_THAT(r.err, Not(HasSubstr("test-app-secret")));
  }

  TempDir dir_;
  PusherTestServer server_;
};

TEST_F(PusherCli, PublishesSignedEvents) {
  const ProcessResult r = herald(config(good_settings(server_.port())),
                                 {"publish", "orders", "audit", "-m", "one", "-m", "two"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(server_.refusals(), ElementsAre());
  EXPECT_THAT(server_.deliveries(), ElementsAre("orders|message|one", "audit|message|one",
                                                "orders|message|two", "audit|message|two"));
  EXPECT_EQ(server_.request_count(), 1u);  // one batch of 4 events
}

TEST_F(PusherCli, PeerDownIsExitOne) {
  const std::uint16_t port = testing_support::free_tcp_port();
  expect_failure(herald(config(good_settings(port) + "retries = 1\n"), {"publish", "o", "-m", "x"}),
                 1,
                 AllOf(HasSubstr("connection `p` (driver `pusher`): publish failed: cannot reach "
                                 "the Pusher API: POST http://127.0.0.1:" +
                                 std::to_string(port) + "/apps/4242/events: "),
                       HasSubstr("(2 attempts)")));
}

TEST_F(PusherCli, SlowPeerIsExitOneWithinTheTimeout) {
  server_.delay_replies(std::chrono::seconds(10));
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = herald(config(good_settings(server_.port()) + "timeout_ms = 300\n"),
                                 {"publish", "o", "-m", "x"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
  expect_failure(r, 1, HasSubstr("timed out"));
}

TEST_F(PusherCli, RefusedSignatureIsExitOneWithoutSecrets) {
  const ProcessResult r =
      herald(config(good_settings(server_.port())), {"publish", "o", "-m", "x"}, "not-the-secret");
  expect_failure(r, 1,
                 AllOf(HasSubstr("HTTP 401"), HasSubstr("The auth signature is invalid."),
                       Not(HasSubstr("auth_signature")), Not(HasSubstr("not-the-secret"))));
}

TEST_F(PusherCli, OversizeDataIsExitOneBeforeSending) {
  const ProcessResult r = herald(config(good_settings(server_.port())),
                                 {"publish", "o", "-m", std::string(12000, 'x')});
  expect_failure(r, 1,
                 HasSubstr("message 1: event data is 12000 bytes, over the 10240-byte limit "
                           "(`max_data_bytes`)"));
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_F(PusherCli, CheckNamesTheBadSetting) {
  const std::string base = "app_id = \"1\"\nkey = \"k\"\nsecret = \"s\"\n";
  const struct {
    std::string settings;
    std::string message;
  } cases[] = {
      {"key = \"k\"\nsecret = \"s\"\n", "`app_id` is required"},
      {"app_id = \"1\"\nsecret = \"s\"\n", "`key` is required"},
      {"app_id = \"1\"\nkey = \"k\"\n", "`secret` is required"},
      {"app_id = \"1\"\nkey = \"k\"\nsecret = \"\"\n", "`secret` is required"},
      {"app_id = \"a/b\"\nkey = \"k\"\nsecret = \"s\"\n", "`app_id` must not contain"},
      {base + "scheme = \"ws\"\n", "`scheme` is `ws`; expected http or https"},
      {base + "port = 0\n", "`port` is 0; expected 1..65535"},
      {base + "host = \"http://h\"\n", "`host` is a host name, not a URL"},
      {base + "host = \"h/x\"\n", "`host` `h/x` is not a host name"},
      {base + "cluster = \"EU 1\"\n", "`cluster` is `EU 1`"},
      {base + "max_data_bytes = 0\n", "`max_data_bytes` is 0"},
      {base + "timeout_ms = -1\n", "`timeout_ms` is -1; expected 1..600000"},
      {base + "event = \"\"\n", "`event` must be 1..200 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.settings);
    expect_failure(herald(config(c.settings), {"check"}), 2,
                   AllOf(HasSubstr("connection `p` (driver `pusher`)"), HasSubstr(c.message)));
  }
  const ProcessResult ok = herald(config(base + "cluster = \"eu\"\n"), {"check"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
}

}  // namespace
}  // namespace herald::cli_test
