// The production DriverFactory: resolves a connection's driver to a plugin and creates an
// instance of it.
#pragma once

#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "broadcast/broadcast_manager.hpp"
#include "plugin/plugin_catalog.hpp"

namespace herald {

class PluginDriverFactory final : public DriverFactory {
 public:
  // `base_dir`: where relative driver paths (driverAliases = "lib/x.so") and driver-relative
  // files are resolved - the config file's directory.
  PluginDriverFactory(std::shared_ptr<PluginCatalog> catalog,
                      std::shared_ptr<const TopicRegistry> topics,
                      std::shared_ptr<spdlog::logger> logger, std::filesystem::path base_dir);

  std::shared_ptr<Broadcast> make(const ConnectionConfig& config) override;

  // The plugin a connection's driver names: a path (contains '/' or ends in ".so") or a
  // name declared by a plugin in the search directories. Throws PluginException/ConfigException
  // prefixed with the position of the `driver` setting.
  std::shared_ptr<Plugin> plugin_for(const ConnectionConfig& config);

  PluginCatalog& catalog() noexcept { return *catalog_; }
  const std::filesystem::path& base_dir() const noexcept { return base_dir_; }

 private:
  std::shared_ptr<PluginCatalog> catalog_;
  std::shared_ptr<const TopicRegistry> topics_;
  std::shared_ptr<spdlog::logger> logger_;
  std::filesystem::path base_dir_;
};

}  // namespace herald
