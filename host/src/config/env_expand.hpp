// `${VAR}` and `${VAR:-default}` expansion in configuration strings.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
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

// Reads a dotenv-style file: `KEY=value` lines, optional `export `, `#` comments, blank lines,
// values optionally in '...' or "..." quotes. A missing file gives no variables. Throws
// ConfigException ("FILE:LINE: ...", never quoting a value) for a malformed line, a file that
// cannot be read, or one that every user may read (it holds secrets: chmod 600).
std::map<std::string, std::string, std::less<>> read_env_file(const std::filesystem::path& file);

// `env` first, then `file_vars` for what the environment does not set.
EnvLookup with_fallback(EnvLookup env, std::map<std::string, std::string, std::less<>> file_vars);

}  // namespace herald
