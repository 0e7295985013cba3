#include "config/env_expand.hpp"

#include <cstdlib>
#include <fstream>
#include <system_error>

#include "core/errors.hpp"

namespace herald {

namespace {

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool is_valid_name(std::string_view name) {
  if (name.empty() || !is_name_start(name.front())) return false;
  for (char c : name) {
    if (!is_name_start(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Index of the `}` closing the `${` whose body starts at `from`, or npos. Nested `${...}`
// (allowed in a default) are skipped so `${A:-${B}}` closes at the last brace.
std::size_t find_closing_brace(std::string_view text, std::size_t from) {
  int depth = 0;
  for (std::size_t i = from; i < text.size(); ++i) {
    if (text.substr(i, 3) == "$${") {
      i += 2;  // an escaped `${` opens nothing
    } else if (text.substr(i, 2) == "${") {
      ++depth;
      ++i;
    } else if (text[i] == '}') {
      if (depth == 0) return i;
      --depth;
    }
  }
  return std::string_view::npos;
}

}  // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    // getenv needs a NUL-terminated name.
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::string expand_env(std::string_view text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$') {
      out += c;
      ++i;
      continue;
    }
    // `$${` is the escape for a literal `${`.
    if (text.substr(i, 3) == "$${") {
      out += "${";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "${") {
      out += c;  // a lone `$` is kept
      ++i;
      continue;
    }
    const std::size_t body = i + 2;
    const std::size_t close = find_closing_brace(text, body);
    // The messages below quote nothing of the value: it may hold a secret (a password typed in
    // next to a `${`, a default, or a "name" that is really a secret). Offsets locate the error.
    if (close == std::string_view::npos) {
      throw ConfigException("unterminated ${ at character " + std::to_string(i + 1) +
                            " of the value (close it with `}`, or write $${ for a literal ${)");
    }
    const std::string_view inner = text.substr(body, close - body);
    const std::size_t sep = inner.find(":-");
    const std::string_view name = inner.substr(0, sep);
    if (!is_valid_name(name)) {
      throw ConfigException("invalid variable name in the ${...} at character " +
                            std::to_string(i + 1) +
                            " of the value (a name is letters, digits and _, not starting "
                            "with a digit; write $${ for a literal ${)");
    }
    std::optional<std::string> value = env(name);
    if (sep != std::string_view::npos) {
      // POSIX `:-`: the default also replaces an empty value. It may itself use `${...}`.
      if (!value || value->empty()) value = expand_env(inner.substr(sep + 2), env);
    } else if (!value) {
      // Only the name goes into the message, never a value: config strings hold secrets.
      const std::string n(name);
      throw ConfigException("environment variable `" + n + "` is not set (write ${" + n +
                            ":-default} to give a default)");
    }
    out += *value;
    i = close + 1;
  }
  return out;
}

}  // namespace herald

namespace herald {

std::map<std::string, std::string, std::less<>> read_env_file(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string, std::less<>> vars;
  std::error_code ec;
  const fs::file_status status = fs::status(file, ec);
  if (ec || status.type() == fs::file_type::not_found) return vars;
  const std::string name = file.string();
  if (status.type() != fs::file_type::regular)
    throw ConfigException(name + ": env_file is not a regular file");
  if ((status.permissions() & fs::perms::others_read) != fs::perms::none)
    throw ConfigException(name + ": env_file is readable by every user; it holds secrets: chmod 600 " +
                          name);
  std::ifstream in(file);
  if (!in) throw ConfigException(name + ": cannot read env_file");
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = line;
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
      text.remove_suffix(1);
    if (text.empty() || text.front() == '#') continue;
    if (text.starts_with("export ")) text.remove_prefix(7);
    const auto eq = text.find('=');
    const std::string where = name + ":" + std::to_string(number) + ": ";
    if (eq == std::string_view::npos || !is_valid_name(text.substr(0, eq)))
      throw ConfigException(where + "expected NAME=value");
    std::string_view value = text.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    vars.insert_or_assign(std::string(text.substr(0, eq)), std::string(value));
  }
  return vars;
}

EnvLookup with_fallback(EnvLookup env, std::map<std::string, std::string, std::less<>> file_vars) {
  return [env = std::move(env), vars = std::move(file_vars)](
             std::string_view name) -> std::optional<std::string> {
    if (auto v = env(name)) return v;
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

}  // namespace herald
