// `${VAR}` and `${VAR:-default}` expansion in configuration strings.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

// Looks an environment variable up; nullopt when unset. Injected so tests need no real env.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup process_env();

// Expands `${VAR}` (error when VAR is unset) and `${VAR:-default}` (default when VAR is unset
// or empty, as in POSIX sh); `$${` writes a literal `${`. A lone `$` is kept as is. Throws
// ConfigException with a message without position (the caller adds it), e.g. "environment
// variable `SECRET` is not set (write ${SECRET:-default} to give a default)". Messages never
// contain a variable's value.
std::string expand_env(std::string_view text, const EnvLookup& env);

}  // namespace herald
