// The shipped `log` and `null` plugins, loaded for real from the build tree.
#include <gtest/gtest.h>
#include <herald/driver.h>

#include "core/errors.hpp"
#include "plugin/plugin.hpp"

namespace herald {
namespace {

const std::filesystem::path kPlugins = HERALD_TEST_PLUGIN_DIR;

TEST(BuiltinDrivers, NullPluginDeclaresItsNameAndIsNotAGuard) {
  auto plugin = Plugin::load(kPlugins / "herald_null.so");
  EXPECT_EQ(plugin->info().name, "null");
  EXPECT_EQ(plugin->info().abi_string(),
            std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR));
  EXPECT_FALSE(plugin->info().can_authorize);
}

TEST(BuiltinDrivers, LogPluginValidatesItsSettings) {
  auto plugin = Plugin::load(kPlugins / "herald_log.so");
  EXPECT_EQ(plugin->info().name, "log");
  EXPECT_TRUE(plugin->info().can_validate);
}

}  // namespace
}  // namespace herald
