#include "config/broadcast_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <system_error>
#include <tuple>
#include <utility>

#include "core/errors.hpp"

namespace herald {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const SourcePosition& where, const std::string& message) {
  throw ConfigException(where.prefix(message));
}

SourcePosition position(const std::string& file, const toml::source_region& source) {
  return SourcePosition{file, source.begin.line, source.begin.column};
}

// Messages must stay one line; toml++ descriptions normally are, but make sure.
std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Lexically normal and without a trailing separator, so "plugins/" and "plugins" compare equal.
fs::path normalize(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

// Rejects keys of `table` not in `allowed`, naming the first one in file order so a typo is
// reported where the user wrote it. `context` is the dotted prefix, e.g. "authorize.".
void check_keys(const std::string& file, const toml::table& table,
                std::initializer_list<std::string_view> allowed, const std::string& context) {
  const toml::key* first = nullptr;
  for (auto&& [key, value] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    const auto& b = key.source().begin;
    if (first == nullptr || std::tie(b.line, b.column) < std::tie(first->source().begin.line,
                                                                  first->source().begin.column)) {
      first = &key;
    }
  }
  if (first != nullptr) {
    fail(position(file, first->source()), "unknown key `" + context + std::string(first->str()) +
                                              "` (expected " + join(allowed) + ")");
  }
}

// Applies `${VAR}` expansion to every string value in the tree (keys stay as written).
void expand_strings(const std::string& file, toml::node& node, const EnvLookup& env) {
  if (auto* table = node.as_table()) {
    for (auto&& [key, value] : *table) expand_strings(file, value, env);
  } else if (auto* array = node.as_array()) {
    for (auto& element : *array) expand_strings(file, element, env);
  } else if (auto* text = node.as_string()) {
    try {
      text->get() = expand_env(text->get(), env);
    } catch (const ConfigException& e) {
      fail(position(file, node.source()), e.what());
    }
  }
}

// A string map section such as [aliases]; `describe` words the error for one entry.
template <typename Describe>
BroadcastConfig::NameMap read_string_map(const std::string& file, const toml::table& doc,
                                         std::string_view section, Describe describe) {
  BroadcastConfig::NameMap out;
  const toml::node* node = doc.get(section);
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    fail(position(file, node->source()), "`" + std::string(section) + "` must be a table");
  }
  for (auto&& [key, value] : *table) {
    const auto* text = value.as_string();
    if (text == nullptr) fail(position(file, value.source()), describe(std::string(key.str())));
    out.emplace(std::string(key.str()), text->get());
  }
  return out;
}

// Env values that count as set: POSIX-style, an empty value is the same as none.
std::optional<std::string> non_empty_env(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// `base_dir` made absolute (the working directory when empty), as written when that fails.
fs::path absolute_base_dir(const fs::path& base_dir) {
  std::error_code ec;
  fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
  if (ec) base = base_dir;
  return normalize(base);
}

std::shared_ptr<toml::table> parse_document(std::string_view toml_text, const std::string& f) {
  auto parsed = std::make_shared<toml::table>();
  try {
    *parsed = toml::parse(toml_text, std::string(f));
  } catch (const toml::parse_error& err) {
    fail(position(f, err.source()), "TOML syntax error: " + one_line(err.description()));
  }
  return parsed;
}

// `env` with the config's `env_file` (taken literally) supplying the ${VAR}s it lacks.
EnvLookup with_env_file(const std::string& f, const toml::table& doc, const fs::path& base_dir,
                        const EnvLookup& env) {
  const toml::node* node = doc.get("env_file");
  if (node == nullptr) return env;
  const auto* text = node->as_string();
  if (text == nullptr) fail(position(f, node->source()), "`env_file` must be a string");
  if (text->get().empty()) return env;
  try {
    return with_fallback(env, read_env_file(normalize(base_dir / fs::path(text->get()))));
  } catch (const ConfigException& e) {
    fail(position(f, node->source()), e.what());
  }
}

std::vector<fs::path> read_plugin_dirs(const std::string& f, const toml::table& doc,
                                       const fs::path& base_dir) {
  std::vector<fs::path> out;
  const toml::node* node = doc.get("plugin_dirs");
  if (node == nullptr) return out;
  const std::string message = "`plugin_dirs` must be an array of strings";
  const toml::array* dirs = node->as_array();
  if (dirs == nullptr) fail(position(f, node->source()), message);
  for (const toml::node& entry : *dirs) {
    const auto* dir = entry.as_string();
    if (dir == nullptr) fail(position(f, entry.source()), message);
    // Skipped so `"${EXTRA_PLUGINS:-}"` can name an optional directory.
    if (dir->get().empty()) continue;
    out.push_back(normalize(base_dir / fs::path(dir->get())));
  }
  return out;
}

// One `[[authorize.topics]]` block; `index` is 1-based, as a user counts the blocks.
TopicRuleConfig read_topic_rule(const std::string& f, const toml::node& entry, std::size_t index,
                                const std::string& message) {
  const toml::table* table = entry.as_table();
  if (table == nullptr) fail(position(f, entry.source()), message);
  const std::string label = "authorize.topics[" + std::to_string(index) + "]";
  check_keys(f, *table, {"pattern", "rule"}, label + ".");
  const toml::node* pattern = table->get("pattern");
  if (pattern == nullptr || !pattern->is_string()) {
    fail(position(f, (pattern ? *pattern : entry).source()),
         "`" + label + "` needs a string `pattern`");
  }
  const toml::node* rule = table->get("rule");
  if (rule == nullptr || !rule->is_table()) {
    fail(position(f, (rule ? *rule : entry).source()), "`" + label + "` needs a table `rule`");
  }
  return TopicRuleConfig{pattern->as_string()->get(), *rule->as_table(),
                         position(f, entry.source())};
}

// The [authorize] table: `path` (when non-empty) and the `topics` rules, in order.
void read_authorize(const std::string& f, const toml::table& doc,
                    std::optional<std::string>& auth_path, std::vector<TopicRuleConfig>& topics) {
  const toml::node* node = doc.get("authorize");
  if (node == nullptr) return;
  const toml::table* authorize = node->as_table();
  if (authorize == nullptr) fail(position(f, node->source()), "`authorize` must be a table");
  check_keys(f, *authorize, {"path", "topics"}, "authorize.");
  if (const toml::node* path = authorize->get("path")) {
    const auto* text = path->as_string();
    if (text == nullptr) fail(position(f, path->source()), "`authorize.path` must be a string");
    if (!text->get().empty()) auth_path = text->get();
  }
  const toml::node* entries_node = authorize->get("topics");
  if (entries_node == nullptr) return;
  const std::string message = "`authorize.topics` must be an array of tables";
  const toml::array* entries = entries_node->as_array();
  if (entries == nullptr) fail(position(f, entries_node->source()), message);
  std::size_t index = 0;
  for (const toml::node& entry : *entries)
    topics.push_back(read_topic_rule(f, entry, ++index, message));
}

// [connections] must hold tables; without it, Spiral's setDefaults adds a `null` connection.
void check_connections(const std::string& f, toml::table& doc) {
  const toml::node* node = doc.get("connections");
  if (node == nullptr) {
    doc.insert("connections", toml::table{{"null", toml::table{{"driver", "null"}}}});
    return;
  }
  const toml::table* connections = node->as_table();
  if (connections == nullptr) {
    fail(position(f, node->source()), "`connections` must be a table");
  }
  for (auto&& [key, value] : *connections) {
    if (!value.is_table()) {
      fail(position(f, value.source()),
           "`connections." + std::string(key.str()) + "` must be a table");
    }
  }
}

}  // namespace

BroadcastConfig BroadcastConfig::parse(std::string_view toml_text, std::string file,
                                       const fs::path& base_dir, const EnvLookup& env) {
  BroadcastConfig cfg;
  cfg.file_ = std::move(file);
  const std::string& f = cfg.file_;
  cfg.base_dir_ = absolute_base_dir(base_dir);

  std::shared_ptr<toml::table> parsed = parse_document(toml_text, f);
  toml::table& doc = *parsed;
  cfg.doc_ = parsed;  // written only here, before anyone can see it
  expand_strings(f, doc, with_env_file(f, doc, cfg.base_dir_, env));

  check_keys(f, doc,
             {"default", "env_file", "plugin_dirs", "authorize", "aliases", "connections",
              "driverAliases", "server"},
             "");
  // `default` is checked lazily in default_connection(), as Spiral does.
  cfg.plugin_dirs_ = read_plugin_dirs(f, doc, cfg.base_dir_);
  read_authorize(f, doc, cfg.auth_path_, cfg.topics_);
  cfg.aliases_ = read_string_map(f, doc, "aliases", [](const std::string& key) {
    return "alias `" + key + "` must be a string";
  });
  cfg.driver_aliases_ = read_string_map(f, doc, "driverAliases", [](const std::string& key) {
    return "`driverAliases." + key + "` must be a string";
  });
  check_connections(f, doc);
  if (const toml::node* node = doc.get("server"); node != nullptr && !node->is_table()) {
    fail(position(f, node->source()), "`server` must be a table");
  }

  cfg.default_override_ = non_empty_env(env, "BROADCAST_CONNECTION");
  if (auto path = non_empty_env(env, "BROADCAST_AUTHORIZE_PATH")) cfg.auth_path_ = std::move(path);
  return cfg;
}

BroadcastConfig BroadcastConfig::load(const fs::path& file, const EnvLookup& env) {
  const std::string shown = file.string();
  const SourcePosition where{shown};
  auto cannot_read = [&](int error) {
    fail(where, "cannot read config file: " + std::generic_category().message(error));
  };

  // fopen succeeds on a directory under Linux; say so instead of failing on read.
  std::error_code ec;
  if (fs::is_directory(file, ec)) cannot_read(EISDIR);

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(shown.c_str(), "rb"), &std::fclose);
  if (!in) cannot_read(errno);
  std::string text;
  char buffer[8192];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, in.get())) > 0) text.append(buffer, n);
  if (std::ferror(in.get())) cannot_read(errno);

  fs::path absolute = fs::absolute(file, ec);
  if (ec) absolute = file;
  return parse(text, shown, absolute.parent_path(), env);
}

std::string BroadcastConfig::default_connection() const {
  if (default_override_) return *default_override_;
  const toml::node* node = doc_->get("default");
  if (node == nullptr) return "null";  // Spiral's default
  const auto* text = node->as_string();
  if (text == nullptr) {
    fail(position_of(*node), "Default broadcast connection config value must be a string");
  }
  if (text->get().empty()) fail(position_of(*node), "Default broadcast connection is not defined.");
  return text->get();
}

std::string BroadcastConfig::resolve_alias(std::string_view name) const {
  // Once, not recursively: an alias naming another alias is not followed (Spiral).
  auto it = aliases_.find(name);
  return it == aliases_.end() ? std::string(name) : it->second;
}

ConnectionConfig BroadcastConfig::connection_config(std::string_view name) const {
  const std::string conn(name);
  const toml::table* connections = doc_->get_as<toml::table>("connections");
  const toml::table* table = connections ? connections->get_as<toml::table>(name) : nullptr;
  if (table == nullptr) {
    fail(SourcePosition{file_}, "Config for connection `" + conn + "` is not defined.");
  }
  const toml::node* driver = table->get("driver");
  if (driver == nullptr) {
    fail(position_of(*table), "Driver for `" + conn + "` connection is not defined.");
  }
  const auto* driver_name = driver->as_string();
  if (driver_name == nullptr) {
    fail(position_of(*driver), "Driver value for `" + conn + "` connection must be a string");
  }
  // Spiral only checks isset(); an empty name would just fail later with a worse message.
  if (driver_name->get().empty()) {
    fail(position_of(*driver), "Driver for `" + conn + "` connection is not defined.");
  }

  ConnectionConfig out;
  out.name = conn;
  out.driver = driver_name->get();
  out.driver_where = position_of(*driver);
  if (auto it = driver_aliases_.find(out.driver); it != driver_aliases_.end()) {
    if (const toml::node* alias = (*doc_)["driverAliases"][out.driver].node()) {
      out.driver_where = position_of(*alias);
    }
    out.driver = it->second;
  }
  out.options = *table;
  out.options.insert_or_assign("driver", out.driver);
  out.where = position_of(*table);
  return out;
}

std::vector<std::string> BroadcastConfig::connection_names() const {
  // toml::table is ordered by key; the user expects the order they wrote.
  struct Entry {
    std::uint32_t line;
    std::uint32_t column;
    std::string name;
  };
  std::vector<Entry> entries;
  if (const toml::table* connections = doc_->get_as<toml::table>("connections")) {
    for (auto&& [key, value] : *connections) {
      const auto& begin = value.source().begin;
      entries.push_back({begin.line, begin.column, std::string(key.str())});
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (Entry& entry : entries) names.push_back(std::move(entry.name));
  return names;
}

SourcePosition BroadcastConfig::position_of(const toml::node& node) const {
  return position(file_, node.source());
}

}  // namespace herald
