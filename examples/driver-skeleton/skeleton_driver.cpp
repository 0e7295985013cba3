// skeleton: an example Herald driver, built out of tree against the installed SDK.
//
// Appends every published message to a file as one JSON line:
//   {"topics":["order.42"],"message":"{\"status\":\"purchased\"}"}
//
// Settings ([connections.<name>] in broadcasting.toml):
//   driver = "skeleton"
//   path   = "events.jsonl"   required; a relative path is relative to the config file
//
// What it shows: reading settings (herald::sdk::Config), checking them without side effects
// for `herald check` (validate), logging through the host (herald::sdk::Host), failing with a
// clear message (herald::sdk::Error), thread safety (the host may call publish from several
// threads at once), and reporting health (ABI 1.1, herald::sdk::HealthCheck).
#include <herald/driver.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

namespace {

using herald::sdk::Config;
using herald::sdk::Texts;

// `path`, resolved against the directory of the config file that defines the connection.
std::filesystem::path output_path(const Config& config) {
  const std::string path = config.string_or("path", "");
  if (path.empty()) throw herald::sdk::ConfigError(config.describe("path") + " is required");
  std::filesystem::path out(path);
  if (out.is_relative() && !config.base_dir().empty())
    out = std::filesystem::path(config.base_dir()) / out;
  return out;
}

// Appends `text` to `out` as a JSON string literal (quotes, backslashes and control characters
// escaped; other bytes, UTF-8 included, copied as they are).
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

class Skeleton final : public herald::sdk::Broadcast, public herald::sdk::HealthCheck {
 public:
  // Called once per connection, when the host first needs it. Throwing here fails the
  // connection with the message (ConfigError: a configuration error, exit code 2).
  Skeleton(const herald::sdk::Host& host, const Config& config)
      : host_(host), path_(output_path(config)), out_(path_, std::ios::app | std::ios::binary) {
    if (!out_) throw herald::sdk::Error("cannot open " + path_.string() + " for appending");
    host_.log(herald::sdk::LogLevel::debug, "appending to " + path_.string());
  }

  // For `herald check`: the same checks as the constructor, without opening the file.
  static void validate(const Config& config) { output_path(config); }

  // May run on several threads at once: the line is built outside the lock, written inside it.
  void publish(Texts topics, Texts messages) override {
    std::string topic_list = "{\"topics\":[";
    for (size_t i = 0; i < topics.size(); ++i) {
      if (i != 0) topic_list += ',';
      append_json_string(topic_list, topics[i]);
    }
    topic_list += "],\"message\":";
    std::string lines;
    for (const std::string_view message : messages) {
      lines += topic_list;
      append_json_string(lines, message);
      lines += "}\n";
    }
    std::lock_guard lock(mutex_);
    out_ << lines;
    out_.flush();
    if (!out_) {
      out_.clear();  // the next publish tries again
      throw herald::sdk::Error("cannot write to " + path_.string());
    }
  }

  // For `GET /healthz`: cheap, no publish. Healthy while the file can still be written.
  void health() override {
    std::lock_guard lock(mutex_);
    if (!out_.good()) throw herald::sdk::Error(path_.string() + " is not writable");
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec))
      throw herald::sdk::Error(path_.string() + " was removed");
  }

 private:
  herald::sdk::Host host_;
  const std::filesystem::path path_;
  std::mutex mutex_;
  std::ofstream out_;  // guarded by mutex_
};

}  // namespace

// Exports the driver: the name users write as `driver = "skeleton"`, its version, a description.
HERALD_DRIVER(Skeleton, "skeleton", "1.0.0",
              "Example out-of-tree driver: appends every publish to a JSON-lines file")
