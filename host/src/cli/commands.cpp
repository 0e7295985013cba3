#include "cli/commands.hpp"

#include <iomanip>
#include <istream>
#include <ostream>

#include "core/errors.hpp"
#include "server/http_server.hpp"
#include "server/server_config.hpp"

namespace herald::cli {

void check_publish_args(const PublishArgs& args) {
  if (args.topics.empty())
    throw InvalidArgumentException("publish needs at least one TOPIC (see herald --help)");
  for (const auto& topic : args.topics)
    if (topic.empty()) throw InvalidArgumentException("a TOPIC must not be empty");
}

int publish(Runtime& runtime, const PublishArgs& args, std::istream& in) {
  check_publish_args(args);
  auto connection = runtime.manager().connection(args.connection.value_or(""));
  if (!args.messages.empty()) {
    connection->publish(args.topics, args.messages);
    return kOk;
  }
  // One message per stdin line, each published as soon as it arrives (works behind a pipe);
  // blank lines are skipped. The first failure stops with exit code 1 and names the line, so
  // nothing is lost silently.
  size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      connection->publish(args.topics, line);
    } catch (const DriverException& e) {
      throw DriverException(
          std::string(e.what()) + " (stdin line " + std::to_string(line_number) + ")", e.status());
    }
  }
  return kOk;
}

int drivers(PluginCatalog& catalog, std::ostream& out, std::ostream& err) {
  auto plugins = catalog.plugins();
  if (plugins.empty()) {
    err << "herald: no driver plugins found in " << catalog.dirs_string() << "\n";
  } else {
    auto capabilities = [](const PluginInfo& info) {
      std::string caps = "publish";
      if (info.can_authorize) caps += ",authorize";
      if (info.can_report_health) caps += ",health";
      if (info.can_report_metrics) caps += ",metrics";
      return caps;
    };
    size_t name_width = 4, version_width = 7, caps_width = 24;
    for (const auto& p : plugins) {
      name_width = std::max(name_width, p->info().name.size());
      version_width = std::max(version_width, p->info().version.size());
      caps_width = std::max(caps_width, capabilities(p->info()).size());
    }
    auto row = [&](const std::string& name, const std::string& version, const std::string& abi,
                   const std::string& caps, const std::string& path) {
      out << std::left << std::setw(int(name_width) + 2) << name
          << std::setw(int(version_width) + 2) << version << std::setw(5) << abi
          << std::setw(int(caps_width) + 2) << caps << path << "\n";
    };
    row("NAME", "VERSION", "ABI", "CAPABILITIES", "PATH");
    for (const auto& p : plugins) {
      const PluginInfo& info = p->info();
      row(info.name, info.version, info.abi_string(), capabilities(info), info.path.string());
    }
  }
  for (const auto& problem : catalog.problems())
    err << (problem.shadowed ? "herald: note: " : "herald: skipped ") << problem.error << "\n";
  return kOk;
}

int check(Runtime& runtime, std::ostream& out, std::ostream& err) {
  auto problems = runtime.check();
  // What `herald serve` would refuse too: a bad [server] table, two listeners on one address.
  try {
    const ServerConfig server = parse_server_config(runtime.config());
    for (auto& line : listen_conflicts(runtime.config(), server.listen,
                                       server_listen_origin(runtime.config())))
      problems.push_back(std::move(line));
    if (std::string tls = tls_files_problem(server); !tls.empty())
      problems.push_back(std::move(tls));
  } catch (const ConfigException& e) {
    problems.emplace_back(e.what());
  }
  for (const auto& line : problems) err << "herald: " << line << "\n";
  if (!problems.empty()) return kUsage;
  const auto names = runtime.config().connection_names();
  out << runtime.config().file() << ": OK (" << names.size()
      << (names.size() == 1 ? " connection" : " connections") << ", default `"
      << runtime.manager().resolve({}) << "`, " << runtime.topics().size()
      << (runtime.topics().size() == 1 ? " topic rule" : " topic rules") << "; checked [server]";
  for (const auto& name : names) out << ", [connections." << name << "]";
  out << ", [topics])\n";
  return kOk;
}

}  // namespace herald::cli
