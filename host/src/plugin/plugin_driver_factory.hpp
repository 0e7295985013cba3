// The production DriverFactory: resolves a connection's driver to a plugin and creates an
// instance of it.
#pragma once

#include <filesystem>
#include <memory>

#include <herald/driver.h>
#include <spdlog/spdlog.h>

#include "broadcast/broadcast_manager.hpp"
#include "plugin/plugin_catalog.hpp"

namespace herald {

class PluginDriverFactory final : public DriverFactory {
 public:
  // `base_dir`: where relative driver paths (driverAliases = "lib/x.so") and driver-relative
  // files are resolved - the config file's directory. `role`: what every instance is told
  // (herald_host_api.role): HERALD_ROLE_SERVER for `herald serve`, else HERALD_ROLE_CLIENT.
  PluginDriverFactory(std::shared_ptr<PluginCatalog> catalog,
                      std::shared_ptr<const TopicRegistry> topics,
                      std::shared_ptr<spdlog::logger> logger, std::filesystem::path base_dir,
                      herald_role role = HERALD_ROLE_CLIENT);

  std::shared_ptr<Broadcast> make(const ConnectionConfig& config) override;

  // The plugin a connection's driver names: a path (contains '/' or ends in ".so") or a
  // name declared by a plugin in the search directories. Throws PluginException/ConfigException
  // prefixed with the position of the `driver` setting.
  std::shared_ptr<Plugin> plugin_for(const ConnectionConfig& config);

  PluginCatalog& catalog() noexcept { return *catalog_; }
  const std::filesystem::path& base_dir() const noexcept { return base_dir_; }
  herald_role role() const noexcept { return role_; }

 private:
  std::shared_ptr<PluginCatalog> catalog_;
  std::shared_ptr<const TopicRegistry> topics_;
  std::shared_ptr<spdlog::logger> logger_;
  std::filesystem::path base_dir_;
  herald_role role_;
};

}  // namespace herald
