// Fuzz target: broadcasting.toml parsing with `${VAR}` expansion, the [server] table, the
// connections and the [[authorize.topics]] rules compiled into a registry.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "auth/topic_registry.hpp"
#include "auth/topic_rules.hpp"
#include "config/broadcast_config.hpp"
#include "config/env_expand.hpp"
#include "server/server_config.hpp"

namespace {

const herald::EnvLookup& env() {
  static const std::map<std::string, std::string, std::less<>> vars{
      {"HOST", "127.0.0.1"}, {"PORT", "6379"}, {"EMPTY", ""}, {"SECRET", "s3cr3t"},
      {"NESTED", "${HOST}"}};
  static const herald::EnvLookup lookup = [](std::string_view name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
  return lookup;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)herald::expand_env(text, env());
  } catch (const std::exception&) {
  }
  try {
    // A base directory that does not exist: `env_file` and `plugin_dirs` resolve under it.
    const herald::BroadcastConfig config =
        herald::BroadcastConfig::parse(text, "fuzz.toml", "/nonexistent-herald-fuzz", env());
    try {
      (void)herald::parse_server_config(config);
    } catch (const std::exception&) {
    }
    try {
      (void)herald::listen_conflicts(config, std::nullopt, "fuzz");
    } catch (const std::exception&) {
    }
    try {
      (void)config.default_connection();
    } catch (const std::exception&) {
    }
    for (const std::string& name : config.connection_names()) {
      try {
        (void)config.connection_config(config.resolve_alias(name));
      } catch (const std::exception&) {
      }
    }
    try {
      herald::TopicRegistry registry;
      herald::register_topic_rules(registry, config.topics());
    } catch (const std::exception&) {
    }
  } catch (const std::exception&) {
  }
  return 0;
}
