// One connection backed by a plugin: the host side of the C ABI.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include <herald/driver.h>
#include <spdlog/spdlog.h>

#include "auth/topic_registry.hpp"
#include "broadcast/broadcast.hpp"
#include "config/broadcast_config.hpp"
#include "plugin/plugin.hpp"

namespace herald {

class DriverInstance final : public Broadcast, public Guard {
 public:
  // Calls the plugin's `create` with the connection's config; the host API tells it `role`
  // (HERALD_ROLE_SERVER inside `herald serve`). Throws ConfigException when the driver rejects
  // its configuration, DriverException for any other failure.
  DriverInstance(std::shared_ptr<Plugin> plugin, const ConnectionConfig& config,
                 std::shared_ptr<const TopicRegistry> topics,
                 std::shared_ptr<spdlog::logger> logger, const std::string& base_dir,
                 herald_role role = HERALD_ROLE_CLIENT);
  ~DriverInstance() override;
  DriverInstance(const DriverInstance&) = delete;
  DriverInstance& operator=(const DriverInstance&) = delete;

  using Broadcast::publish;
  void publish(Texts topics, Texts messages) override;
  Guard* guard() noexcept override { return plugin_->info().can_authorize ? this : nullptr; }
  AuthorizationStatus authorize(const AuthRequest& request) override;
  std::optional<std::string> health_problem() override;
  // The plugin's ABI 1.2 `metrics` text, checked (valid UTF-8 lines of the format; other
  // lines are dropped) and capped at kMetricsLimit bytes (cut at a line end). Empty when the
  // plugin has no `metrics` or it fails. Each kind of problem is logged once, as a warning.
  std::string metrics_text() override;
  static constexpr std::size_t kMetricsLimit = 1024 * 1024;

  const Plugin& plugin() const noexcept { return *plugin_; }

  // What the host API's functions receive as `ctx`.
  struct Context {
    std::string connection;
    std::shared_ptr<spdlog::logger> logger;
    std::shared_ptr<const TopicRegistry> topics;
  };

 private:
  std::string describe() const;
  void publish_large(Texts topics, Texts messages);
  [[noreturn]] void fail_publish(int status, const std::string& reason) const;

  std::shared_ptr<Plugin> plugin_;  // keeps the library loaded until the instance is gone
  decltype(herald_driver_descriptor::publish) publish_;  // cached: one load less per publish
  Context context_;
  herald_host_api api_{};
  void* instance_ = nullptr;
  // Metrics problems already logged (bits: failed, too large, bad lines).
  std::atomic<unsigned> metrics_warned_{0};
};

// The text a plugin left in a `herald_error` buffer of `capacity` bytes: up to the first NUL
// or the end of the buffer (the plugin may not have terminated it), control line breaks made
// spaces; "no reason given by the driver" when empty.
std::string plugin_error_text(const char* text, std::size_t capacity);

// Runs the plugin's `validate` (when it has one) on a connection's settings; throws
// ConfigException with the driver's reason.
void validate_connection(const Plugin& plugin, const ConnectionConfig& config,
                         const std::string& base_dir);

}  // namespace herald
