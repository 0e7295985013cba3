// The parsed `broadcasting.toml` (Spiral's BroadcastConfig), with source positions kept for
// error messages and `${VAR}` expansion already applied.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "auth/topic_rules.hpp"
#include "config/env_expand.hpp"
#include "core/source_position.hpp"

namespace herald {

// A connection's settings as handed to the driver factory: Spiral's `$cfg`, with `driver`
// already replaced through driverAliases.
struct ConnectionConfig {
  std::string name;             // the resolved connection name
  std::string driver;           // after driverAliases: a plugin name or a .so path
  toml::table options;          // the whole [connections.<name>] table, `driver` replaced
  SourcePosition where;         // of the [connections.<name>] table
  SourcePosition driver_where;  // of its `driver` key (or of the alias that replaced it)
};

class BroadcastConfig {
 public:
  // Name -> name maps (aliases, driverAliases), searchable by string_view without copying.
  using NameMap = std::map<std::string, std::string, std::less<>>;

  // Parses TOML text. `file` names it in messages; relative `plugin_dirs` are resolved
  // against `base_dir`. Applies env expansion and the env overrides BROADCAST_CONNECTION
  // (default connection) and BROADCAST_AUTHORIZE_PATH. Throws ConfigException.
  static BroadcastConfig parse(std::string_view toml_text, std::string file,
                               const std::filesystem::path& base_dir, const EnvLookup& env);
  // Reads and parses a file; a missing or unreadable file throws ConfigException.
  static BroadcastConfig load(const std::filesystem::path& file, const EnvLookup& env);

  // Spiral's getDefaultConnection(): throws "Default broadcast connection is not defined."
  // when empty, "... must be a string" when not a string.
  std::string default_connection() const;
  // aliases[name], once (not recursive), or name itself.
  std::string resolve_alias(std::string_view name) const;
  // Spiral's getConnectionConfig(): throws "Config for connection `foo` is not defined.",
  // "Driver for `memory` connection is not defined.",
  // "Driver value for `x` connection must be a string" (prefixed with the position).
  ConnectionConfig connection_config(std::string_view name) const;
  std::vector<std::string> connection_names() const;  // in file order

  // Spiral's getAuthorizationPath(): nullopt when not set.
  const std::optional<std::string>& authorization_path() const noexcept { return auth_path_; }
  // Spiral's getTopics(): the `[[authorize.topics]]` entries, in order.
  const std::vector<TopicRuleConfig>& topics() const noexcept { return topics_; }

  const NameMap& aliases() const noexcept { return aliases_; }
  bool is_alias(std::string_view name) const { return aliases_.find(name) != aliases_.end(); }
  // plugin_dirs, made absolute against the config file's directory, in order.
  const std::vector<std::filesystem::path>& plugin_dirs() const noexcept { return plugin_dirs_; }
  // The whole document after expansion (other sections, e.g. [server], read from here).
  const toml::table& document() const noexcept { return *doc_; }
  const std::string& file() const noexcept { return file_; }
  // Directory relative paths in the file (plugin_dirs, driverAliases paths) are resolved from.
  const std::filesystem::path& base_dir() const noexcept { return base_dir_; }
  SourcePosition position_of(const toml::node& node) const;

 private:
  BroadcastConfig() = default;

  // Shared and immutable: copying a toml::table drops its source positions, so copies of the
  // config share one document to keep line numbers in their messages.
  std::shared_ptr<const toml::table> doc_;
  std::string file_;
  std::filesystem::path base_dir_;
  std::optional<std::string> default_override_;  // BROADCAST_CONNECTION
  std::optional<std::string> auth_path_;
  std::vector<TopicRuleConfig> topics_;
  NameMap aliases_;
  NameMap driver_aliases_;
  std::vector<std::filesystem::path> plugin_dirs_;
};

}  // namespace herald
