// Which configuration file to use when none is named.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace herald {

// The config file: `explicit_path` (--config) or `env_path` (HERALD_CONFIG) when given, even
// if missing (loading then reports it); else the first that exists of
// ./config/broadcasting.toml, <exe>/../etc/herald/broadcasting.toml, /etc/herald/broadcasting.toml.
// Throws ConfigException naming every place tried when none exists.
std::filesystem::path locate_config(const std::optional<std::string>& explicit_path,
                                    const std::optional<std::string>& env_path);

std::vector<std::filesystem::path> default_config_candidates();

// True when one of default_config_candidates() exists.
bool has_default_config();

}  // namespace herald
