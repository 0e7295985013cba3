#include "plugin/plugin_driver_factory.hpp"

#include "core/errors.hpp"
#include "plugin/driver_instance.hpp"

namespace herald {

PluginDriverFactory::PluginDriverFactory(std::shared_ptr<PluginCatalog> catalog,
                                         std::shared_ptr<const TopicRegistry> topics,
                                         std::shared_ptr<spdlog::logger> logger,
                                         std::filesystem::path base_dir, herald_role role)
    : catalog_(std::move(catalog)),
      topics_(std::move(topics)),
      logger_(std::move(logger)),
      base_dir_(std::move(base_dir)),
      role_(role) {}

std::shared_ptr<Plugin> PluginDriverFactory::plugin_for(const ConnectionConfig& config) {
  const std::string& driver = config.driver;
  const bool is_path =
      driver.find('/') != std::string::npos || (driver.size() > 3 && driver.ends_with(".so"));
  if (is_path) {
    std::filesystem::path path(driver);
    if (path.is_relative()) path = base_dir_ / path;
    try {
      return catalog_->load(path);
    } catch (const PluginException& e) {
      throw PluginException(config.driver_where.prefix(e.what()));
    }
  }
  if (auto plugin = catalog_->find(driver)) return plugin;
  // A refused (untrusted) plugin file or directory is the likely reason: say which and the fix.
  std::string refused;
  for (const auto& problem : catalog_->problems())
    if (problem.untrusted) {
      refused = "; " + problem.error;
      break;
    }
  throw PluginException(
      config.driver_where.prefix("driver `" + driver + "` of connection `" + config.name +
                                 "` is not available: no plugin in " + catalog_->dirs_string() +
                                 " declares it (see `herald drivers`)" + refused));
}

std::shared_ptr<Broadcast> PluginDriverFactory::make(const ConnectionConfig& config) {
  auto plugin = plugin_for(config);
  auto instance = std::make_shared<DriverInstance>(std::move(plugin), config, topics_, logger_,
                                                   base_dir_.string(), role_);
  logger_->debug("connection `{}` started (driver `{}` {})", config.name,
                 instance->plugin().info().name, instance->plugin().info().version);
  return instance;
}

}  // namespace herald
