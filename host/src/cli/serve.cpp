// `herald serve`: starts every connection, serves the HTTP API until SIGTERM/SIGINT, then
// stops gracefully (in-flight requests answered, driver instances destroyed) and exits 0.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
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

  // SIGTERM/SIGINT/SIGHUP are taken by sigwait below. Blocked before any driver starts a thread
  // (main() already blocked them before loading plugins; this keeps embedders of serve() safe):
  // the threads inherit the mask, so a signal during start-up waits for sigwait and ends in a
  // clean shutdown instead of killing the process from a driver's thread.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
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
  service.set_topic_rules(&runtime.topics());  // a default connection that is not a guard
  HttpServer server(config, service, logger, metrics);
  try {
    server.start();
  } catch (const std::system_error& e) {
    throw DriverException(e.what(), -1);  // e.g. address in use: a run-time failure, exit 1
  }
  ListenAddress bound = config.listen;
  bound.port = server.port();
  logger->info("herald serving on {}://{} ({} connection(s), default `{}`, authorize path {})",
               config.tls() ? "https" : "http", bound.str(), names.size(), runtime.config().default_connection(),
               runtime.config().authorization_path().value_or("(none)"));

  int received = 0;
  for (;;) {
    if (sigwait(&signals, &received) != 0) continue;
    if (received != SIGHUP) break;
    if (!config.tls()) {
      logger->info("SIGHUP: nothing to reload; still serving");  // and it must not kill us
      continue;
    }
    // New connections get the re-read certificate; a bad pair keeps the previous one.
    try {
      server.reload_tls();
      logger->info("SIGHUP: reloaded the TLS certificate (tls_cert `{}`, tls_key `{}`)",
                   config.tls_cert, config.tls_key);
    } catch (const std::exception& e) {
      logger->error("SIGHUP: cannot reload TLS from tls_cert `{}` and tls_key `{}` ({}); keeping "
                    "the previous certificate",
                    config.tls_cert, config.tls_key, e.what());
    }
  }
  logger->info("{}: shutting down (finishing in-flight requests, at most {} ms)",
               received == SIGTERM ? "SIGTERM" : "SIGINT", config.shutdown_timeout.count());
  const auto started = std::chrono::steady_clock::now();
  const std::size_t abandoned = server.stop();
  const bool health_stopped = service.stop(std::chrono::steady_clock::now() +
                                           std::chrono::milliseconds(500));
  if (abandoned > 0 || !health_stopped) {
    // A driver call that never returns: destroying the drivers under it would crash or hang,
    // so exit now, without destructors. Exit 1: a driver failed at run time.
    logger->error("exiting without waiting for a driver call that does not return ({} ms "
                  "after the signal)",
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count());
    logger->flush();
    std::_Exit(kDriverFailed);
  }
  runtime.manager().reset();  // driver instances are destroyed once no request holds them
  logger->info("stopped");
  logger->flush();
  return kOk;
}

}  // namespace herald::cli
