// The `herald` subcommands. Each returns the process exit code (DESIGN.md section 4):
// 0 success, 1 a driver failed at run time, 2 usage or configuration error.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime.hpp"

namespace herald::cli {

enum ExitCode : int { kOk = 0, kDriverFailed = 1, kUsage = 2 };

struct PublishArgs {
  std::optional<std::string> connection;  // -c
  std::vector<std::string> topics;
  std::vector<std::string> messages;  // -m; empty -> read stdin
};

int publish(Runtime& runtime, const PublishArgs& args, std::istream& in);
// Lists `catalog`'s plugins; works without a config file.
int drivers(PluginCatalog& catalog, std::ostream& out, std::ostream& err);
// Usage errors of `publish` found before any config is read (throws InvalidArgumentException).
void check_publish_args(const PublishArgs& args);
int check(Runtime& runtime, std::ostream& out, std::ostream& err);

}  // namespace herald::cli
