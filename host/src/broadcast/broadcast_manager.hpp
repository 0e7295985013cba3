// Spiral's BroadcastManager: resolves connection names to lazily created, cached instances.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broadcast/broadcast.hpp"
#include "config/broadcast_config.hpp"

namespace herald {

// Makes a connection instance from its configuration (Spiral's FactoryInterface::make).
class DriverFactory {
 public:
  virtual ~DriverFactory() = default;
  virtual std::shared_ptr<Broadcast> make(const ConnectionConfig& config) = 0;
};

class BroadcastManager {
 public:
  BroadcastManager(std::shared_ptr<const BroadcastConfig> config,
                   std::shared_ptr<DriverFactory> factory);

  // Spiral's connection(?string $name): empty -> default; aliases[name] once; the cached
  // instance, else connections[name] -> driver -> driverAliases -> factory.make -> cache.
  // Thread-safe; an instance is created at most once per resolved name. Throws
  // ConfigException / PluginException / DriverException.
  std::shared_ptr<Broadcast> connection(std::string_view name = {});

  // The resolved name connection(name) would use (after default and alias).
  std::string resolve(std::string_view name) const;

  // Instances created so far, by resolved name.
  std::vector<std::pair<std::string, std::shared_ptr<Broadcast>>> created() const;

  // Drops every cached instance (each is destroyed when its last user lets go).
  void reset();

  const BroadcastConfig& config() const noexcept { return *config_; }

 private:
  std::shared_ptr<Broadcast> find_cached(std::string_view resolved) const;

  std::shared_ptr<const BroadcastConfig> config_;
  std::shared_ptr<DriverFactory> factory_;
  mutable std::shared_mutex cache_mutex_;
  std::mutex create_mutex_;  // serializes creation so each name is made once
  std::map<std::string, std::shared_ptr<Broadcast>, std::less<>> cache_;
};

}  // namespace herald
