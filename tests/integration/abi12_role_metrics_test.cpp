// ABI 1.2 on the host side: the role a driver instance is told (HERALD_ROLE_SERVER inside
// `herald serve`, CLIENT for one-shot commands), the optional `metrics` entry point (checked,
// capped, merged into `GET /metrics`), and the start-up check that no two listeners (a
// connection's `listen`, `herald serve` itself) share an address. The plugins are the fixtures
// metrics_role.cpp (1.2, metrics + role) and abi_1_1.c (1.1, a trap where `metrics` would be).
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <herald/driver.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "cli_test_support.hpp"
#include "herald_server.hpp"
#include "plugin/driver_instance.hpp"
#include "plugin/plugin.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using cli_test::ProcessResult;
using cli_test::Describe;
using cli_test::RunOptions;
using cli_test::RunProcess;
using testing_support::HeraldServer;
using testing_support::HttpReply;
using testing_support::read_file;
using testing_support::split_lines;
using testing_support::TempDir;
using testing_support::write_file;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kFixtures = HERALD_TEST_FIXTURE_DIR;
const fs::path kMetricsRole = kFixtures / "herald_fixture_metrics_role.so";
const std::string kKey = "abi12-key";


size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

ConnectionConfig Connection(const std::string& name, toml::table options) {
  options.insert_or_assign("driver", "metrics-role");
  ConnectionConfig c;
  c.name = name;
  c.driver = "metrics-role";
  c.options = std::move(options);
  c.where = SourcePosition{"test.toml", 3, 1};
  c.driver_where = SourcePosition{"test.toml", 4, 10};
  return c;
}

// A logger whose output the test reads.
struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
      "abi12-test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  CapturedLog() { logger->set_pattern("[%l] %v"); }
  std::string text() {
    logger->flush();
    return out.str();
  }
};

// Checks what Prometheus requires of an exposition: every family's HELP/TYPE at most once and
// its samples (with the _bucket/_sum/_count/_total suffixes of a declared family) contiguous.
void ExpectOneBlockPerFamily(const std::string& body) {
  std::set<std::string> declared;
  for (const auto& line : split_lines(body)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      declared.insert(name);
    }
  }
  auto family_of = [&](const std::string& line) -> std::string {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0)
      return line.substr(7, line.find(' ', 7) - 7);
    const std::string name = line.substr(0, line.find_first_of("{ "));
    if (declared.count(name) != 0) return name;
    for (const std::string suffix : {"_bucket", "_sum", "_count", "_total"})
      if (name.size() > suffix.size() && name.ends_with(suffix) &&
          declared.count(name.substr(0, name.size() - suffix.size())) != 0)
        return name.substr(0, name.size() - suffix.size());
    return name;
  };
  std::vector<std::string> blocks;
  std::map<std::string, int> help, type;
  for (const auto& line : split_lines(body)) {
    const std::string family = family_of(line);
    if (blocks.empty() || blocks.back() != family) {
      EXPECT_THAT(blocks, Not(Contains(family))) << "family `" << family << "` split:\n" << body;
      blocks.push_back(family);
    }
    if (line.rfind("# HELP ", 0) == 0) ++help[family];
    if (line.rfind("# TYPE ", 0) == 0) ++type[family];
  }
  for (const auto& [family, n] : help) EXPECT_EQ(n, 1) << "HELP of " << family;
  for (const auto& [family, n] : type) EXPECT_EQ(n, 1) << "TYPE of " << family;
}

// ---- in-process: DriverInstance over the fixture ---------------------------------------------

TEST(Abi12Plugin, InfoRecordsTheMetricsEntryPoint) {
  auto plugin = Plugin::load(kMetricsRole);
  EXPECT_EQ(plugin->info().name, "metrics-role");
  EXPECT_EQ(plugin->info().abi_version, std::uint32_t{HERALD_ABI_VERSION});
  EXPECT_TRUE(plugin->info().can_report_metrics);
  EXPECT_FALSE(plugin->info().can_report_health);
  EXPECT_NE(plugin->descriptor().metrics, nullptr);
}

TEST(Abi12Plugin, TheInstanceIsToldItsRoleClientByDefault) {
  TempDir dir;
  auto plugin = Plugin::load(kMetricsRole);
  CapturedLog log;
  {
    DriverInstance server(plugin, Connection("ws", toml::table{{"role_file", "roles.txt"}}),
                          nullptr, log.logger, dir.path().string(), HERALD_ROLE_SERVER);
    DriverInstance client(plugin, Connection("cli", toml::table{{"role_file", "roles.txt"}}),
                          nullptr, log.logger, dir.path().string());
  }
  EXPECT_THAT(split_lines(read_file(dir / "roles.txt")), ElementsAre("ws=server", "cli=client"));
  EXPECT_THAT(log.text(), AllOf(HasSubstr("[info] [ws] created as server"),
                                HasSubstr("[info] [cli] created as client")));
}

TEST(Abi12Plugin, MetricsTextIsThePluginsTextInWholeLines) {
  TempDir dir;
  CapturedLog log;
  DriverInstance instance(Plugin::load(kMetricsRole), Connection("ws", {}), nullptr, log.logger,
                          dir.path().string(), HERALD_ROLE_SERVER);
  instance.publish({"a"}, "m");
  instance.publish({"a"}, "m");
  EXPECT_EQ(instance.metrics_text(),
            "# HELP herald_fixture_publishes_total Publish calls seen by the fixture.\n"
            "# TYPE herald_fixture_publishes_total counter\n"
            "herald_fixture_publishes_total{connection=\"ws\"} 2\n"
            "# HELP herald_fixture_role The role the host gave this instance.\n"
            "# TYPE herald_fixture_role gauge\n"
            "herald_fixture_role{connection=\"ws\",role=\"server\"} 1\n");
  EXPECT_THAT(log.text(), Not(HasSubstr("[warning]")));
}

TEST(Abi12Plugin, AFailingMetricsCallGivesNothingAndOneWarning) {
  TempDir dir;
  CapturedLog log;
  DriverInstance instance(Plugin::load(kMetricsRole),
                          Connection("broken", toml::table{{"metrics", "fail"}}), nullptr,
                          log.logger, dir.path().string());
  for (int i = 0; i < 3; ++i) EXPECT_THAT(instance.metrics_text(), IsEmpty());
  const std::string text = log.text();
  EXPECT_EQ(Count(text, "[warning]"), 1u) << text;
  EXPECT_THAT(text, HasSubstr("connection `broken` (driver `metrics-role`): metrics: failed, "
                              "left out of /metrics: metrics backend gone"));
}

// HERALD_E_UNSUPPORTED from a declared `metrics` means "none for this instance": no text and,
// unlike a failure, no warning (driver.h, herald_status).
TEST(Abi12Plugin, UnsupportedMetricsGiveNothingAndNoWarning) {
  TempDir dir;
  CapturedLog log;
  DriverInstance instance(Plugin::load(kMetricsRole),
                          Connection("quiet", toml::table{{"metrics", "unsupported"}}), nullptr,
                          log.logger, dir.path().string());
  EXPECT_THAT(instance.metrics_text(), IsEmpty());
  EXPECT_THAT(log.text(), Not(HasSubstr("[warning]")));
}

TEST(Abi12Plugin, LinesThatAreNotTheFormatOrNotUtf8AreDroppedWithOneWarning) {
  TempDir dir;
  CapturedLog log;
  DriverInstance instance(Plugin::load(kMetricsRole),
                          Connection("junk", toml::table{{"metrics", "garbage"}}), nullptr,
                          log.logger, dir.path().string());
  for (int i = 0; i < 2; ++i) {
    const std::string text = instance.metrics_text();
    EXPECT_THAT(text, HasSubstr("herald_fixture_role{connection=\"junk\",role=\"client\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("herald_fixture_ok{connection=\"junk\"} 2\n"));
    EXPECT_THAT(text, Not(HasSubstr("herald_fixture_bad")));
  }
  const std::string text = log.text();
  EXPECT_EQ(Count(text, "[warning]"), 1u) << text;
  EXPECT_THAT(text, HasSubstr("metrics: 4 line(s) left out of /metrics, the first: "));
}

TEST(Abi12Plugin, MetricsTextIsCappedAtALineEnd) {
  TempDir dir;
  CapturedLog log;
  DriverInstance instance(Plugin::load(kMetricsRole),
                          Connection("big", toml::table{{"metrics", "huge"}}), nullptr,
                          log.logger, dir.path().string());
  const std::string text = instance.metrics_text();
  EXPECT_LE(text.size(), DriverInstance::kMetricsLimit);
  EXPECT_GT(text.size(), DriverInstance::kMetricsLimit - 100);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THAT(text, StartsWith("# HELP herald_fixture_publishes_total"));
  for (const auto& line : split_lines(text))
    ASSERT_THAT(line, AnyOf(StartsWith("#"), StartsWith("herald_fixture_"))) << line;
  EXPECT_THAT(log.text(), HasSubstr("metrics: more than 1048576 bytes, the rest left out"));
}

// ---- the `herald` binary -------------------------------------------------------------------

class Abi12Cli : public ::testing::Test {
 protected:
  ProcessResult Herald(const std::vector<std::string>& args) const {
    return RunProcess(kHerald, args, RunOptions{{}, {}, dir_.path(), std::chrono::seconds(30)});
  }
  fs::path Config(const std::string& toml) const { return write_file(dir_ / "b.toml", toml); }

  TempDir dir_{"herald-abi12"};
};

// Two instances of the metrics plugin, a 1.1 and a 1.0 plugin (no metrics), one whose
// `metrics` fails, and the log driver (no metrics).
const char* const kConnections = R"(
[connections.log]
driver = "null"
[connections.ws1]
driver = "metrics-role"
role_file = "roles.txt"
[connections.old11]
driver = "abi-1-1"
[connections.old10]
driver = "abi-1-0"
path = "old10.log"
[connections.ws2]
driver = "metrics-role"
role_file = "roles.txt"
[connections.broken]
driver = "metrics-role"
metrics = "fail"
)";

TEST_F(Abi12Cli, ServeGivesDriversTheServerRoleAndMergesTheirMetrics) {
  HeraldServer server(dir_, "default = \"ws1\"\n[server]\napi_key = \"" + kKey + "\"\n" +
                                kConnections);
  EXPECT_THAT(split_lines(read_file(dir_ / "roles.txt")),
              UnorderedElementsAre("ws1=server", "ws2=server"));
  const testing_support::Headers auth = {{"Authorization", "Bearer " + kKey}};
  for (const char* connection : {"ws1", "ws1", "ws1", "ws2"})
    ASSERT_EQ(server.post("/api/publish",
                          std::string(R"({"topic":"a","message":"m","connection":")") +
                              connection + "\"}",
                          auth)
                  .status,
              200);

  for (int round = 0; round < 2; ++round) {
    const HttpReply r = server.get("/metrics");
    ASSERT_EQ(r.status, 200);
    // The host's own metrics first, then the plugins', each family once.
    EXPECT_THAT(r.body, StartsWith("# HELP herald_publish_total "));
    EXPECT_THAT(r.body, HasSubstr("herald_publish_total{connection=\"ws1\"} 3\n"));
    EXPECT_THAT(r.body,
                HasSubstr("# HELP herald_fixture_publishes_total Publish calls seen by the "
                          "fixture.\n"
                          "# TYPE herald_fixture_publishes_total counter\n"
                          "herald_fixture_publishes_total{connection=\"ws1\"} 3\n"
                          "herald_fixture_publishes_total{connection=\"ws2\"} 1\n"
                          "# HELP herald_fixture_role The role the host gave this instance.\n"
                          "# TYPE herald_fixture_role gauge\n"
                          "herald_fixture_role{connection=\"ws1\",role=\"server\"} 1\n"
                          "herald_fixture_role{connection=\"ws2\",role=\"server\"} 1\n"));
    EXPECT_LT(r.body.find("herald_http_requests_total"), r.body.find("herald_fixture_"));
    EXPECT_EQ(Count(r.body, "# TYPE herald_fixture_publishes_total "), 1u);
    EXPECT_EQ(Count(r.body, "# HELP herald_fixture_role "), 1u);
    // Neither older plugin contributes anything (the 1.1 one's trap is never called), nor the
    // failing one.
    EXPECT_THAT(r.body, Not(HasSubstr("herald_fixture_trap")));
    EXPECT_THAT(r.body, Not(HasSubstr("connection=\"broken\"")));
    ExpectOneBlockPerFamily(r.body);
  }
  // The failing instance is warned about once, however often /metrics is scraped.
  EXPECT_EQ(Count(server.log(), "metrics: failed"), 1u) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("connection `broken` (driver `metrics-role`): metrics: "
                                      "failed, left out of /metrics: metrics backend gone"));
  EXPECT_EQ(server.get("/healthz").status, 200);
}

TEST_F(Abi12Cli, PublishGivesDriversTheClientRole) {
  const fs::path config = Config(std::string("default = \"ws1\"\n") + kConnections);
  const ProcessResult r = Herald({"--config", config.string(), "--plugin-dir", kFixtures.string(),
                                  "publish", "-c", "ws2", "order.1", "-m", "x"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(split_lines(read_file(dir_ / "roles.txt")), ElementsAre("ws2=client"));
  EXPECT_THAT(r.err, HasSubstr("[ws2] created as client"));
}

TEST_F(Abi12Cli, DriversListsTheMetricsCapability) {
  const ProcessResult r = Herald({"--plugin-dir", kFixtures.string(), "drivers"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  std::map<std::string, std::vector<std::string>> rows;
  for (const auto& line : split_lines(r.out)) {
    std::istringstream words(line);
    std::vector<std::string> columns;
    for (std::string w; words >> w;) columns.push_back(w);
    if (!columns.empty()) rows[columns[0]] = columns;
  }
  const std::string abi = std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR);
  EXPECT_THAT(rows["metrics-role"], ElementsAre("metrics-role", "1.2.0", abi, "publish,metrics",
                                                kMetricsRole.string()));
  EXPECT_THAT(rows["abi-1-1"], ElementsAre("abi-1-1", "1.1.0", "1.1", "publish,health",
                                           (kFixtures / "herald_fixture_abi_1_1.so").string()));
}

// ---- two listeners on one address ------------------------------------------------------------

const char* const kTwoOnOneAddress = R"(default = "ws1"

[connections.ws1]
driver = "metrics-role"
listen = "127.0.0.1:6001"
role_file = "roles.txt"

[connections.ws2]
driver = "metrics-role"
listen = "localhost:6001"
role_file = "roles.txt"
)";

TEST_F(Abi12Cli, TwoConnectionsOnOneListenAddressAreAConfigErrorForCheckAndServe) {
  const fs::path config = Config(kTwoOnOneAddress);
  const std::string expected = "herald: " + config.string() + ":10:10: connections `ws1` (" +
                               config.string() +
                               ":5:10) and `ws2` both listen on 127.0.0.1:6001; give each its "
                               "own address\n";
  const ProcessResult check =
      Herald({"--config", config.string(), "--plugin-dir", kFixtures.string(), "check"});
  EXPECT_EQ(check.exit_code, 2) << Describe(check);
  EXPECT_EQ(check.err, expected);
  EXPECT_THAT(check.out, IsEmpty());

  const ProcessResult serve = Herald({"--config", config.string(), "--plugin-dir",
                                      kFixtures.string(), "serve", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(serve.exit_code, 2) << Describe(serve);
  EXPECT_EQ(serve.err, expected);
  // Found before any connection was created.
  EXPECT_FALSE(fs::exists(dir_ / "roles.txt"));
}

TEST_F(Abi12Cli, AConnectionOnTheServersOwnAddressIsAConfigError) {
  // From the file's [server] listen (for check and serve) ...
  const fs::path config = Config(R"(default = "ws"
[server]
listen = "127.0.0.1:6002"
[connections.ws]
driver = "metrics-role"
listen = "127.0.0.1:6002"
role_file = "roles.txt"
)");
  const std::string from_file = "herald: " + config.string() +
                                ":6:10: connection `ws` and `herald serve` (`[server] listen` (" +
                                config.string() +
                                ":3:10)) both listen on 127.0.0.1:6002; give each its own "
                                "address\n";
  ProcessResult r =
      Herald({"--config", config.string(), "--plugin-dir", kFixtures.string(), "check"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, from_file);
  r = Herald({"--config", config.string(), "--plugin-dir", kFixtures.string(), "serve"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, from_file);
  EXPECT_FALSE(fs::exists(dir_ / "roles.txt"));

  // ... and from --listen (a wildcard takes the port on every address).
  const fs::path other = Config(R"(default = "ws"
[connections.ws]
driver = "metrics-role"
listen = "0.0.0.0:6003"
role_file = "roles.txt"
)");
  r = Herald({"--config", other.string(), "--plugin-dir", kFixtures.string(), "serve", "--listen",
              "127.0.0.1:6003"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, "herald: " + other.string() +
                       ":4:10: connection `ws` and `herald serve` (`--listen`) listen on "
                       "overlapping addresses 0.0.0.0:6003 and 127.0.0.1:6003; give each its own "
                       "address\n");
  EXPECT_FALSE(fs::exists(dir_ / "roles.txt"));
}

TEST_F(Abi12Cli, PortZeroAndUnparsableListenValuesNeverConflict) {
  const fs::path config = Config(R"(default = "a"
[server]
listen = "127.0.0.1:0"
[connections.a]
driver = "metrics-role"
listen = "127.0.0.1:0"
[connections.b]
driver = "metrics-role"
listen = "127.0.0.1:0"
[connections.c]
driver = "metrics-role"
listen = "somewhere:6004"
[connections.d]
driver = "metrics-role"
listen = "somewhere:6004"
)");
  const ProcessResult r =
      Herald({"--config", config.string(), "--plugin-dir", kFixtures.string(), "check"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(": OK (4 connections"));
}

}  // namespace
}  // namespace herald
