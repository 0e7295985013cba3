// SDK compatibility across minor versions: a plugin built against SDK 1.0 (fixtures/abi_1_0.c,
// the 1.0 descriptor layout followed by a trap where 1.1's `health` would be) loads in this
// host, publishes, and counts as healthy without the host reading past its struct_size; a
// plugin built against SDK 1.1 (fixtures/abi_1_1.c, a trap where 1.2's `metrics` would be)
// loads, reports health and contributes no metrics; and the generated herald/version.h agrees
// with driver.h. A plugin of another major is refused
// with the clear message: PluginLoad.RefusesAnotherAbiMajor (plugin_loader_test.cpp) and
// CliConfigError.DriverAliasToPluginOfAnotherAbiMajor (cli_test.cpp) cover that.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <herald/driver.h>
#include <herald/version.h>
#include <spdlog/spdlog.h>

#include "cli_test_support.hpp"
#include "core/version.hpp"
#include "plugin/driver_instance.hpp"
#include "plugin/plugin.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing_support::copy_to;
using testing_support::read_file;
using testing_support::split_lines;
using testing_support::TempDir;
using testing_support::write_file;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kAbi10 = fs::path(HERALD_TEST_FIXTURE_DIR) / "herald_fixture_abi_1_0.so";
const fs::path kAbi11 = fs::path(HERALD_TEST_FIXTURE_DIR) / "herald_fixture_abi_1_1.so";

ConnectionConfig recorder_connection(const std::string& path) {
  ConnectionConfig c;
  c.name = "old";
  c.driver = "abi-1-0";
  c.options = toml::table{{"driver", "abi-1-0"}, {"path", path}};
  c.where = SourcePosition{"test.toml", 3, 1};
  c.driver_where = SourcePosition{"test.toml", 4, 10};
  return c;
}

TEST(SdkCompat, APluginBuiltAgainstSdk10Loads) {
  auto plugin = Plugin::load(kAbi10);
  const PluginInfo& info = plugin->info();
  EXPECT_EQ(info.name, "abi-1-0");
  EXPECT_EQ(info.abi_version, std::uint32_t{1} << 16);
  EXPECT_EQ(info.abi_string(), "1.0");
  EXPECT_FALSE(info.can_report_health);
  EXPECT_FALSE(info.can_report_metrics);
  EXPECT_FALSE(info.can_authorize);
  // The host's copy is sized for its own ABI; what the plugin did not declare is NULL, so the
  // trap placed after the 1.0 descriptor was not copied.
  EXPECT_EQ(plugin->descriptor().struct_size, sizeof(herald_driver_descriptor));
  EXPECT_EQ(plugin->descriptor().health, nullptr);
  EXPECT_EQ(plugin->descriptor().metrics, nullptr);
  EXPECT_NE(plugin->descriptor().publish, nullptr);
}

TEST(SdkCompat, APluginBuiltAgainstSdk11LoadsWithHealthAndNoMetrics) {
  auto plugin = Plugin::load(kAbi11);
  const PluginInfo& info = plugin->info();
  EXPECT_EQ(info.name, "abi-1-1");
  EXPECT_EQ(info.abi_string(), "1.1");
  EXPECT_TRUE(info.can_report_health);
  EXPECT_FALSE(info.can_report_metrics);
  // The trap where 1.2 put `metrics` lies past the plugin's struct_size: not copied.
  EXPECT_NE(plugin->descriptor().health, nullptr);
  EXPECT_EQ(plugin->descriptor().metrics, nullptr);

  TempDir dir;
  ConnectionConfig c = recorder_connection("unused.log");
  c.driver = "abi-1-1";
  DriverInstance instance(plugin, c, nullptr, std::make_shared<spdlog::logger>("sdk-compat-test"),
                          dir.path().string(), HERALD_ROLE_SERVER);
  instance.publish({"order.1"}, "m");
  EXPECT_EQ(instance.health_problem(), std::nullopt);
  EXPECT_THAT(instance.metrics_text(), IsEmpty());
}

TEST(SdkCompat, ASdk10PluginPublishesAndCountsAsHealthy) {
  TempDir dir;
  auto plugin = Plugin::load(kAbi10);
  DriverInstance instance(plugin, recorder_connection("record.log"), nullptr,
                          std::make_shared<spdlog::logger>("sdk-compat-test"), dir.path().string());
  instance.publish({"order.1", "order.2"}, "first");
  instance.publish({"order.3"}, "second");
  EXPECT_THAT(split_lines(read_file(dir / "record.log")),
              ElementsAre("order.1,order.2|first", "order.3|second"));
  EXPECT_EQ(instance.health_problem(), std::nullopt);
  EXPECT_THAT(instance.metrics_text(), IsEmpty());  // 1.0: no metrics, the host reads none
}

TEST(SdkCompat, TheCommandListsAndPublishesThroughASdk10Plugin) {
  TempDir dir;
  const fs::path plugins = dir / "plugins";
  const fs::path copy = copy_to(kAbi10, plugins / "old_driver.so");
  const fs::path config = write_file(dir / "broadcasting.toml", R"(default = "old"
plugin_dirs = ["plugins"]

[connections.old]
driver = "abi-1-0"
path = "record.log"
)");
  cli_test::RunOptions options;
  options.cwd = dir.path();

  const auto drivers =
      cli_test::RunProcess(kHerald, {"--plugin-dir", plugins.string(), "drivers"}, options);
  ASSERT_EQ(drivers.exit_code, 0) << cli_test::Describe(drivers);
  const auto rows = split_lines(drivers.out);
  ASSERT_GE(rows.size(), 2u) << cli_test::Describe(drivers);
  // NAME VERSION ABI CAPABILITIES PATH: --plugin-dir comes first; no `health` capability.
  EXPECT_THAT(cli_test::Columns(rows[1]), ElementsAre("abi-1-0", "1.0.0", "1.0", "publish", copy.string()));

  const auto check = cli_test::RunProcess(kHerald, {"--config", config.string(), "check"}, options);
  EXPECT_EQ(check.exit_code, 0) << cli_test::Describe(check);
  EXPECT_THAT(check.err, IsEmpty());

  const auto publish = cli_test::RunProcess(
      kHerald, {"--config", config.string(), "publish", "order.42", "-m", "purchased"}, options);
  EXPECT_EQ(publish.exit_code, 0) << cli_test::Describe(publish);
  EXPECT_EQ(read_file(dir / "record.log"), "order.42|purchased\n");
}

TEST(SdkCompat, VersionHeaderAgreesWithDriverHeaderAndTheRelease) {
  EXPECT_EQ(HERALD_SDK_VERSION_MAJOR, HERALD_ABI_MAJOR);
  EXPECT_EQ(HERALD_SDK_VERSION_MINOR, HERALD_ABI_MINOR);
  EXPECT_EQ(std::string(HERALD_SDK_VERSION_STRING),
            std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR));
  EXPECT_EQ(std::string(HERALD_RELEASE_VERSION_STRING), std::string(kVersion));
  EXPECT_EQ(std::string(HERALD_RELEASE_VERSION_STRING),
            std::to_string(HERALD_RELEASE_VERSION_MAJOR) + "." +
                std::to_string(HERALD_RELEASE_VERSION_MINOR) + "." +
                std::to_string(HERALD_RELEASE_VERSION_PATCH));
}

}  // namespace
}  // namespace herald
