// `herald publish` and `herald check` (the real binary) with a `centrifugo` connection: what the
// Centrifugo stand-in receives, and one clear stderr line plus the documented exit code when the
// peer is down, slow or answers an error, or when the settings are wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "background_process.hpp"
#include "centrifugo_test_server.hpp"
#include "cli_test_support.hpp"
#include "test_files.hpp"

namespace herald::cli_test {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;
using testing_support::CentrifugoTestServer;
using testing_support::TempDir;

const fs::path kHerald = HERALD_TEST_BINARY;

class CentrifugoCli : public ::testing::Test {
 protected:
  // A config with one `centrifugo` connection (the default) holding `settings`; the API key
  // comes from the environment, as a deployment would do it.
  fs::path config(const std::string& settings) {
    return dir_.write("broadcasting.toml", R"(default = "cf"

[connections.cf]
driver = "centrifugo"
)" + settings);
  }
  std::string good_settings(const std::string& url) const {
    return "url = \"" + url + "\"\napi_key = \"${CENTRIFUGO_KEY}\"\nretry_backoff_ms = 10\n";
  }

  ProcessResult herald(const fs::path& config_file, std::vector<std::string> args,
                       std::string key = "test-api-key", std::string stdin_text = "") {
    args.insert(args.begin(), {"--config", config_file.string()});
    RunOptions options;
    options.env = {{"CENTRIFUGO_KEY", std::move(key)}};
    options.cwd = dir_.path();
    options.stdin_text = std::move(stdin_text);
    return RunProcess(kHerald, args, options);
  }

  static std::string describe(const ProcessResult& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (TIMED OUT)" : "") +
           "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
  }

  // Exit 1, nothing on stdout, one stderr line "herald: connection `cf` (driver `centrifugo`):
  // publish failed: ..." accepted by `matcher`.
  template <typename Matcher>
  static void expect_publish_failure(const ProcessResult& r, const Matcher& matcher) {
    EXPECT_FALSE(r.timed_out) << describe(r);
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.out, "");
    const auto lines = testing_support::split_lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << describe(r);
    EXPECT_THAT(lines[0],
                AllOf(StartsWith("herald: connection `cf` (driver `centrifugo`): publish failed: "),
                      matcher));
  }

  TempDir dir_;
  CentrifugoTestServer server_;
};

TEST_F(CentrifugoCli, PublishesThroughTheRealBinary) {
  const fs::path file = config(good_settings(server_.api_url()));
  const ProcessResult r = herald(file, {"publish", "news", "alerts", "-m", R"({"level":2})"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "");
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/api/broadcast");
  EXPECT_THAT(server_.delivered(),
              ElementsAre(Pair("news", R"({"level":2})"), Pair("alerts", R"({"level":2})")));
}

TEST_F(CentrifugoCli, StdinLinesArePublishedOneByOneOverOneConnection) {
  const fs::path file = config(good_settings(server_.api_url()));
  const ProcessResult r = herald(file, {"publish", "news"}, "test-api-key", "one\ntwo\nthree\n");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(server_.delivered(), ElementsAre(Pair("news", R"("one")"), Pair("news", R"("two")"),
                                               Pair("news", R"("three")")));
  EXPECT_EQ(server_.connection_count(), 1u);
}

TEST_F(CentrifugoCli, PeerDownIsExitOneWithoutTheKey) {
  const std::uint16_t port = testing_support::free_tcp_port();
  const fs::path file =
      config(good_settings("http://127.0.0.1:" + std::to_string(port) + "/api") + "retries = 1\n");
  const ProcessResult r = herald(file, {"publish", "news", "-m", "hi"}, "very-secret-key");
  expect_publish_failure(r, AllOf(HasSubstr("cannot reach Centrifugo: POST http://127.0.0.1:" +
                                            std::to_string(port) + "/api/publish: "),
                                  HasSubstr("(2 attempts)")));
  EXPECT_THAT(r.err, Not(HasSubstr("very-secret-key")));
}

TEST_F(CentrifugoCli, SlowPeerIsExitOneWithinTheTimeout) {
  const fs::path file =
      config(good_settings(server_.api_url()) + "timeout_ms = 300\nretries = 1\n");
  server_.delay_replies(std::chrono::seconds(10));
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = herald(file, {"publish", "news", "-m", "hi"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
  expect_publish_failure(r, AllOf(HasSubstr("timed out"), HasSubstr("(2 attempts)")));
}

TEST_F(CentrifugoCli, CentrifugoErrorIsExitOneWithItsCodeAndMessage) {
  const fs::path file = config(good_settings(server_.api_url()));
  server_.fail_channel("news", 102, "unknown channel");
  expect_publish_failure(herald(file, {"publish", "news", "-m", "hi"}),
                         HasSubstr("Centrifugo error 102 (unknown channel)"));
}

TEST_F(CentrifugoCli, WrongKeyIsExitOneWithoutTheKey) {
  const fs::path file = config(good_settings(server_.api_url()));
  const ProcessResult r = herald(file, {"publish", "news", "-m", "hi"}, "not-the-key");
  expect_publish_failure(r, HasSubstr("Centrifugo refused the API key (HTTP 401"));
  EXPECT_THAT(r.err, Not(HasSubstr("not-the-key")));
}

TEST_F(CentrifugoCli, DriversListsItWithItsCapabilities) {
  const fs::path file = config(good_settings(server_.api_url()));
  const ProcessResult r = herald(file, {"drivers"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("publish,authorize,health"));
  EXPECT_THAT(r.out, HasSubstr("centrifugo"));
}

TEST_F(CentrifugoCli, CheckAcceptsGoodSettingsWithoutContactingThePeer) {
  const fs::path file = config(good_settings(server_.api_url()) +
                               "timeout_ms = 1000\nsubscribe_proxy = true\ntags = { a = \"b\" }\n");
  const ProcessResult r = herald(file, {"check"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_F(CentrifugoCli, CheckNamesTheBadSetting) {
  const std::string key = "api_key = \"k\"\n";
  const struct {
    std::string settings;
    std::string message;
  } cases[] = {
      {key, "`url` is required"},
      {"url = \"\"\n" + key, "`url` is required"},
      {"url = \"ftp://h/api\"\n" + key, "`url` must start with http:// or https://"},
      {"url = \"http:///api\"\n" + key, "`url` has no host"},
      {"url = \"http://h:99999/api\"\n" + key, "`url` has an invalid port"},
      {"url = \"http://h/api?x=1\"\n" + key, "`url` must not have a query or fragment"},
      {"url = \"http://h/api\"\n", "`api_key` is required"},
      {"url = \"http://h/api\"\napi_key = \"\"\n", "`api_key` is required"},
      {"url = \"http://h/api\"\n" + key + "timeout_ms = 0\n",
       "`timeout_ms` is 0; expected 1..600000"},
      {"url = \"http://h/api\"\n" + key + "timeout_ms = \"5s\"\n",
       "`timeout_ms` must be an integer"},
      {"url = \"http://h/api\"\n" + key + "connect_timeout_ms = -1\n",
       "`connect_timeout_ms` is -1; expected 1..600000"},
      {"url = \"http://h/api\"\n" + key + "retries = 11\n", "`retries` is 11; expected 0..10"},
      {"url = \"http://h/api\"\n" + key + "subscribe_proxy = \"yes\"\n",
       "`subscribe_proxy` must be a boolean"},
      {"url = \"http://h/api\"\n" + key + "tags = { a = 1 }\n",
       "`tags` value `a` must be a string"},
  };
  bool first = true;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.settings);
    const fs::path file = config(c.settings);
    std::vector<std::vector<std::string>> commands = {{"check"}};
    if (first) commands.push_back({"publish", "news", "-m", "hi"});  // the same line, exit 2
    first = false;
    for (const auto& command : commands) {
      const ProcessResult r = herald(file, command);
      EXPECT_EQ(r.exit_code, 2) << describe(r);
      const auto lines = testing_support::split_lines(r.err);
      ASSERT_EQ(lines.size(), 1u) << describe(r);
      EXPECT_THAT(lines[0],
                  AllOf(StartsWith("herald: "), HasSubstr("connection `cf` (driver `centrifugo`)"),
                        HasSubstr(c.message)));
    }
  }
  EXPECT_EQ(server_.request_count(), 0u);
}

}  // namespace
}  // namespace herald::cli_test
