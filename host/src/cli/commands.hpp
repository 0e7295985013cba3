// The `herald` subcommands. Each returns the process exit code (docs/reference.md section 3):
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

// `publish --server URL`: the same, through a running `herald serve` (no config needed).
struct RemoteArgs {
  std::string server;                  // --server / HERALD_SERVER, e.g. http://127.0.0.1:8080
  std::optional<std::string> api_key;  // --api-key / HERALD_API_KEY
  std::string ca_file;                 // --ca-file / HERALD_CA_FILE: CAs for https (PEM)
};
int publish_remote(const PublishArgs& args, const RemoteArgs& remote, std::istream& in,
                   std::ostream& err);

struct ServeArgs {
  std::optional<std::string> listen;  // --listen, overrides [server] listen
};
int serve(Runtime& runtime, const ServeArgs& args);
// Lists `catalog`'s plugins; works without a config file.
int drivers(PluginCatalog& catalog, std::ostream& out, std::ostream& err);
// Usage errors of `publish` found before any config is read (throws InvalidArgumentException).
void check_publish_args(const PublishArgs& args);
int check(Runtime& runtime, std::ostream& out, std::ostream& err);

}  // namespace herald::cli
