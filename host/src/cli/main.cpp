// `herald`: the command-line front end. Parses options (Boost.Program_options), builds the
// Runtime and dispatches to a command; every error becomes one line on stderr and an exit code.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <herald/driver.h>
#include <boost/program_options.hpp>

#include "cli/commands.hpp"
#include "config/config_locator.hpp"
#include "core/errors.hpp"
#include "core/version.hpp"
#include "logging/logging.hpp"
#include "plugin/plugin.hpp"
#include "plugin/plugin_catalog.hpp"

namespace po = boost::program_options;
using namespace herald;

namespace {

constexpr const char* kUsage = R"(Usage: herald [OPTIONS] COMMAND [ARGS]

Commands:
  serve [--listen HOST:PORT]               serve the HTTP API (publish, authorize, health, metrics)
  publish [-c CONN] TOPIC... [-m MSG]...   publish messages (one per stdin line without -m)
  drivers                                  list the driver plugins found
  check                                    validate the config and every plugin it names

)";

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
}

// The command line's option groups: shown by --help group by group, parsed all together.
struct CommandLine {
  po::options_description global{"Global options (before or after the command)"};
  po::options_description publish{"publish options"};
  po::options_description serve{"serve options"};
  po::options_description all;
  po::positional_options_description positional;

  CommandLine() {
    global.add_options()("help,h", "show this help")("version",
                                                     "print the version and the driver ABI")(
        "config", po::value<std::string>()->value_name("PATH"),
        "config file (default: $HERALD_CONFIG, ./config/broadcasting.toml, installed one)")(
        "plugin-dir", po::value<std::vector<std::string>>()->value_name("DIR")->composing(),
        "extra plugin directory, searched first (repeatable)")(
        "log-level", po::value<std::string>()->value_name("LEVEL"),
        "trace, debug, info (default), warn, error, critical, off");
    publish.add_options()("connection,c", po::value<std::string>()->value_name("CONN"),
                          "connection name (default: the config's default)")(
        "message,m", po::value<std::vector<std::string>>()->value_name("MSG")->composing(),
        "a message (repeatable)")(
        "server", po::value<std::string>()->value_name("URL"),
        "post to a running `herald serve` instead (default: $HERALD_SERVER)")(
        "api-key", po::value<std::string>()->value_name("KEY"),
        "API key for --server (default: $HERALD_API_KEY)")(
        "ca-file", po::value<std::string>()->value_name("PEM"),
        "CA certificates to trust for an https --server (default: $HERALD_CA_FILE, else the "
        "system store)");
    serve.add_options()("listen", po::value<std::string>()->value_name("HOST:PORT"),
                        "listen here instead of [server] listen");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())(
        "args", po::value<std::vector<std::string>>());
    all.add(global).add(publish).add(serve).add(hidden);
    positional.add("command", 1).add("args", -1);
  }

  po::variables_map parse(int argc, char** argv) const {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    return vm;
  }
};

// --help, --version, or no command at all: the exit code, else nullopt (a command runs).
std::optional<int> answer_without_command(const po::variables_map& vm, const CommandLine& cl) {
  if (vm.count("help")) {
    std::cout << kUsage << cl.global << "\n" << cl.publish << "\n" << cl.serve;
    return cli::kOk;
  }
  if (vm.count("version")) {
    std::cout << "herald " << kVersion << " (driver ABI " << HERALD_ABI_MAJOR << "."
              << HERALD_ABI_MINOR << ")\n";
    return cli::kOk;
  }
  if (!vm.count("command")) {
    std::cerr << "herald: no command given (see herald --help)\n";
    return cli::kUsage;
  }
  return std::nullopt;
}

// Usage errors: an unknown command, or an option or argument the command does not take.
void check_command_options(const std::string& command, const std::vector<std::string>& args,
                           const po::variables_map& vm) {
  if (command != "publish" && command != "drivers" && command != "check" && command != "serve")
    throw po::error("unknown command `" + command + "`");
  if (command != "publish" &&
      (vm.count("connection") || vm.count("message") || vm.count("server") || vm.count("api-key")))
    throw po::error(
        "-c/--connection, -m/--message, --server and --api-key are options of `publish`");
  if (command != "publish" && vm.count("ca-file"))
    throw po::error("--ca-file is an option of `publish`");
  if (command != "serve" && vm.count("listen")) throw po::error("--listen is an option of `serve`");
  if (command != "publish" && !args.empty())
    throw po::error("`" + command + "` takes no arguments, got `" + args.front() + "`");
}

void apply_log_level(const po::variables_map& vm) {
  if (!vm.count("log-level")) return;
  spdlog::level::level_enum level;
  if (!parse_log_level(vm["log-level"].as<std::string>(), level))
    throw po::error("unknown log level `" + vm["log-level"].as<std::string>() + "`");
  host_logger()->set_level(level);
}

// `publish`'s topics and messages, checked before the config is even looked for.
cli::PublishArgs publish_args(const po::variables_map& vm, const std::vector<std::string>& args) {
  cli::PublishArgs publish;
  if (vm.count("connection")) publish.connection = vm["connection"].as<std::string>();
  publish.topics = args;
  if (vm.count("message")) publish.messages = vm["message"].as<std::vector<std::string>>();
  cli::check_publish_args(publish);
  return publish;
}

// --server, --api-key and --ca-file, each defaulting to its environment variable.
cli::RemoteArgs remote_args(const po::variables_map& vm) {
  cli::RemoteArgs remote;
  remote.server =
      vm.count("server") ? vm["server"].as<std::string>() : env("HERALD_SERVER").value_or("");
  remote.api_key =
      vm.count("api-key") ? std::optional(vm["api-key"].as<std::string>()) : env("HERALD_API_KEY");
  remote.ca_file =
      vm.count("ca-file") ? vm["ca-file"].as<std::string>() : env("HERALD_CA_FILE").value_or("");
  return remote;
}

std::vector<std::filesystem::path> plugin_dir_options(const po::variables_map& vm) {
  std::vector<std::filesystem::path> plugin_dirs;
  if (vm.count("plugin-dir"))
    for (const auto& dir : vm["plugin-dir"].as<std::vector<std::string>>())
      plugin_dirs.emplace_back(dir);
  return plugin_dirs;
}

// `serve` takes SIGTERM/SIGINT/SIGHUP with sigwait (cli/serve.cpp). Blocked before the runtime
// loads any plugin, so every thread started later (driver threads included) inherits the mask
// and no signal is ever delivered to a plugin's thread.
void block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

// Runs `command` (drivers, check, serve or publish) on a runtime built from the config.
int run_with_runtime(const std::string& command, const po::variables_map& vm,
                     RuntimeOptions options, const cli::PublishArgs& publish) {
  // Only `serve` runs servers; `publish`, `check` and `drivers` are one-shot clients.
  options.role = command == "serve" ? HERALD_ROLE_SERVER : HERALD_ROLE_CLIENT;
  Runtime runtime(std::move(options));

  if (command == "drivers") return cli::drivers(runtime.catalog(), std::cout, std::cerr);
  if (command == "check") return cli::check(runtime, std::cout, std::cerr);
  if (command == "serve") {
    cli::ServeArgs serve;
    if (vm.count("listen")) serve.listen = vm["listen"].as<std::string>();
    return cli::serve(runtime, serve);
  }
  return cli::publish(runtime, publish, std::cin);
}

int run(int argc, char** argv) {
  const CommandLine command_line;
  const po::variables_map vm = command_line.parse(argc, argv);
  if (auto code = answer_without_command(vm, command_line)) return *code;
  const std::string command = vm["command"].as<std::string>();
  const auto args =
      vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  check_command_options(command, args, vm);
  apply_log_level(vm);

  cli::PublishArgs publish;
  if (command == "publish") {
    publish = publish_args(vm, args);
    const cli::RemoteArgs remote = remote_args(vm);
    if (!remote.server.empty()) return cli::publish_remote(publish, remote, std::cin, std::cerr);
  }

  std::vector<std::filesystem::path> plugin_dirs = plugin_dir_options(vm);
  const auto config_option =
      vm.count("config") ? std::optional(vm["config"].as<std::string>()) : std::nullopt;
  const auto config_env = env("HERALD_CONFIG");

  // `drivers` lists what the search path holds, with or without a config file.
  if (command == "drivers" && !config_option && !config_env && !has_default_config()) {
    PluginCatalog catalog(
        plugin_search_path(plugin_dirs, env("HERALD_PLUGIN_PATH").value_or(""), {}));
    return cli::drivers(catalog, std::cout, std::cerr);
  }

  if (command == "serve") block_shutdown_signals();
  RuntimeOptions options;
  options.config_file = locate_config(config_option, config_env);
  options.plugin_dirs = std::move(plugin_dirs);
  return run_with_runtime(command, vm, std::move(options), publish);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const po::error& e) {
    std::cerr << "herald: " << e.what() << " (see herald --help)\n";
    return cli::kUsage;
  } catch (const DriverException& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return cli::kDriverFailed;
  } catch (const InvalidArgumentException& e) {  // config, plugin and usage errors
    std::cerr << "herald: " << e.what() << "\n";
    return cli::kUsage;
  } catch (const std::exception& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return cli::kDriverFailed;
  }
}
