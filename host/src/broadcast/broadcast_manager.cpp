#include "broadcast/broadcast_manager.hpp"

namespace herald {

BroadcastManager::BroadcastManager(std::shared_ptr<const BroadcastConfig> config,
                                   std::shared_ptr<DriverFactory> factory)
    : config_(std::move(config)), factory_(std::move(factory)) {}

std::string BroadcastManager::resolve(std::string_view name) const {
  std::string resolved = name.empty() ? config_->default_connection() : std::string(name);
  return config_->resolve_alias(resolved);
}

std::shared_ptr<Broadcast> BroadcastManager::find_cached(std::string_view resolved) const {
  std::shared_lock lock(cache_mutex_);
  auto it = cache_.find(resolved);
  return it == cache_.end() ? nullptr : it->second;
}

std::shared_ptr<Broadcast> BroadcastManager::connection(std::string_view name) {
  // The common call - an explicit name that is no alias, already created - allocates nothing.
  if (!name.empty() && !config_->is_alias(name))
    if (auto cached = find_cached(name)) return cached;
  const std::string resolved = resolve(name);
  if (auto cached = find_cached(resolved)) return cached;
  std::lock_guard create_lock(create_mutex_);
  if (auto cached = find_cached(resolved)) return cached;  // made while we waited
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
