// The `log` driver: Spiral's LogBroadcast behind the Herald ABI.
//
// Settings ([connections.<name>]):
//   level   = "info"     PSR-3 or spdlog level name the records are written at
//   sink    = "stdout"   "stdout" | "stderr" | "file" | "host" (the host's own logger)
//   path    = "..."      the file for sink = "file" (relative to the config file)
//   pattern = "..."      spdlog pattern; default "[%Y-%m-%d %H:%M:%S.%e] [%l] %v"
//   flush   = true       flush after every record, so nothing accepted is lost on a crash
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <herald/driver.hpp>

#include "log/log_broadcast.hpp"

namespace {

using herald::sdk::Config;
using herald::sdk::ConfigError;
using herald::sdk::Host;

constexpr const char* kDefaultPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";

// Forwards records to the host's logger (sink = "host").
class HostSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit HostSink(Host host) : host_(host) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    host_.log(static_cast<herald::sdk::LogLevel>(msg.level),
              std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  Host host_;
};

struct Settings {
  spdlog::level::level_enum level = spdlog::level::info;
  std::string sink = "stdout";
  std::filesystem::path path;
  std::string pattern = kDefaultPattern;
  bool flush = true;
};

Settings read_settings(const Config& config) {
  Settings s;
  if (auto level = config.string("level")) {
    if (!herald::drivers::parse_log_level(*level, s.level))
      throw ConfigError(config.describe("level") + " is `" + *level +
                        "`; expected trace, debug, info, notice, warning, error or critical");
  }
  s.sink = config.string_or("sink", "stdout");
  if (s.sink != "stdout" && s.sink != "stderr" && s.sink != "file" && s.sink != "host")
    throw ConfigError(config.describe("sink") + " is `" + s.sink +
                      "`; expected stdout, stderr, file or host");
  if (auto path = config.string("path")) {
    s.path = *path;
    if (s.path.is_relative() && !config.base_dir().empty())
      s.path = std::filesystem::path(config.base_dir()) / s.path;
  }
  if (s.sink == "file" && s.path.empty())
    throw ConfigError(config.describe("path") + " is required when sink = \"file\"");
  s.pattern = config.string_or("pattern", kDefaultPattern);
  s.flush = config.boolean("flush").value_or(true);
  return s;
}

class LogDriver final : public herald::sdk::Broadcast {
 public:
  LogDriver(const Host& host, const Config& config) : impl_(make_logger(host, config)) {}

  static void validate(const Config& config) { read_settings(config); }

  void publish(herald::sdk::Texts topics, herald::sdk::Texts messages) override {
    impl_.publish(topics, messages);
  }

 private:
  static herald::drivers::LogBroadcast make_logger(const Host& host, const Config& config) {
    Settings s = read_settings(config);
    spdlog::sink_ptr sink;
    if (s.sink == "stdout")
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    else if (s.sink == "stderr")
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else if (s.sink == "host")
      sink = std::make_shared<HostSink>(host);
    else
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.path.string());
    // Not registered in spdlog's global registry: the host shares libspdlog with us.
    auto logger = std::make_shared<spdlog::logger>(std::string(config.connection()), sink);
    if (s.sink != "host") logger->set_pattern(s.pattern);
    logger->set_level(spdlog::level::trace);
    if (s.flush) logger->flush_on(spdlog::level::trace);
    return herald::drivers::LogBroadcast(std::move(logger), s.level);
  }

  herald::drivers::LogBroadcast impl_;
};

}  // namespace

HERALD_DRIVER(LogDriver, "log", "1.0.0", "Writes each message as a log line (spdlog)")
