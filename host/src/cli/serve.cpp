// `herald serve`: starts every connection, serves the HTTP API until SIGTERM/SIGINT, then
// stops gracefully (in-flight requests answered, driver instances destroyed) and exits 0.
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <stdexcept>
#include <system_error>

#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "logging/logging.hpp"
#include "server/api_service.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"

namespace herald::cli {

int serve(Runtime& runtime, const ServeArgs& args) {
  // Drivers start their listeners only when told they are serving (ABI 1.2 role).
  if (runtime.role() != HERALD_ROLE_SERVER)
    throw std::logic_error("herald serve needs a Runtime with role HERALD_ROLE_SERVER");
  ServerConfig config = parse_server_config(runtime.config());
  if (args.listen) config.listen = parse_listen_address(*args.listen, "--listen");
  std::shared_ptr<spdlog::logger> logger = runtime.shared_logger();
  if (config.log_format == LogFormat::json) use_json_format(*logger);

  // Two listeners on one address: a configuration error, found before any connection starts.
  const auto conflicts =
      listen_conflicts(runtime.config(), config.listen,
                       args.listen ? "`--listen`" : server_listen_origin(runtime.config()));
  if (!conflicts.empty()) throw ConfigException(conflicts.front());

  // SIGTERM/SIGINT are taken by sigwait below. Blocked before any driver starts a thread (the
  // threads inherit the mask), so a signal during start-up waits for sigwait and ends in a clean
  // shutdown instead of killing the process from a driver's thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Fail fast: a connection that cannot start stops the server before it listens.
  const auto names = runtime.config().connection_names();
  for (const auto& name : names) runtime.manager().connection(name);
  if (config.api_keys.empty())
    logger->warn(config.insecure_no_api_key
                     ? "[server] insecure_no_api_key = true: the publish API accepts anyone"
                     : "no [server] api_key configured: POST /api/publish answers 403");

  Metrics metrics;
  ApiService service(runtime.manager(), config, runtime.config().authorization_path(), logger,
                     metrics);
  HttpServer server(config, service, logger, metrics);
  try {
    server.start();
  } catch (const std::system_error& e) {
    throw DriverException(e.what(), -1);  // e.g. address in use: a run-time failure, exit 1
  }
  ListenAddress bound = config.listen;
  bound.port = server.port();
  logger->info("herald serving on http://{} ({} connection(s), default `{}`, authorize path {})",
               bound.str(), names.size(), runtime.config().default_connection(),
               runtime.config().authorization_path().value_or("(none)"));

  int received = 0;
  sigwait(&signals, &received);
  logger->info("{}: shutting down (finishing in-flight requests, at most {} ms)",
               received == SIGTERM ? "SIGTERM" : "SIGINT", config.shutdown_timeout.count());
  server.stop();
  runtime.manager().reset();  // driver instances are destroyed once no request holds them
  logger->info("stopped");
  logger->flush();
  return kOk;
}

}  // namespace herald::cli
