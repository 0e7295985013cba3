#include "broadcast/broadcast_manager.hpp"

namespace herald {

BroadcastManager::BroadcastManager(std::shared_ptr<const BroadcastConfig> config,
                                   std::shared_ptr<DriverFactory> factory)
    : config_(std::move(config)), factory_(std::move(factory)) {}

std::string BroadcastManager::resolve(std::string_view name) const {
  std::string resolved = name.empty() ? config_->default_connection() : std::string(name);
  return config_->resolve_alias(resolved);
}

std::shared_ptr<Broadcast> BroadcastManager::connection(std::string_view name) {
  // Fast path for the common call with an explicit, already created, non-aliased name.
  if (!name.empty()) {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(name); it != cache_.end() && config_->aliases().empty())
      return it->second;
  }
  const std::string resolved = resolve(name);
  {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(resolved); it != cache_.end()) return it->second;
  }
  std::lock_guard create_lock(create_mutex_);
  {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(resolved); it != cache_.end()) return it->second;
  }
  std::shared_ptr<Broadcast> instance = factory_->make(config_->connection_config(resolved));
  std::unique_lock lock(cache_mutex_);
  cache_.emplace(resolved, instance);
  return instance;
}

std::vector<std::pair<std::string, std::shared_ptr<Broadcast>>> BroadcastManager::created() const {
  std::shared_lock lock(cache_mutex_);
  return {cache_.begin(), cache_.end()};
}

void BroadcastManager::reset() {
  std::map<std::string, std::shared_ptr<Broadcast>, std::less<>> doomed;
  {
    std::unique_lock lock(cache_mutex_);
    doomed.swap(cache_);
  }
  // Destroyed here, outside the lock, so a driver's destructor may not deadlock the manager.
}

}  // namespace herald
