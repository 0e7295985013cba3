// Publish rate of the `redis` driver plugin, loaded exactly as the host loads it: dlopen the .so,
// check the ABI probe, create an instance through the C descriptor and call `publish` in a
// loop. Only the SDK's C header is used (no host library), like a third-party embedder.
//
//   herald_bench_redis --plugin PATH --url URL [--topics T] [--messages M] [--calls N]
//                      [--threads K] [--format raw|laravel] [--payload TEXT] [--pool P]
//
// Every call publishes M messages to T topics (T x M PUBLISH commands, one pipelined round
// trip); K threads share one instance (and its pool of P connections). Prints one line:
//   publishes=<T*M*N*K> seconds=<wall> rate=<publishes/s> cpu=<process CPU seconds>
#include <dlfcn.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <herald/driver.h>

namespace {

struct Args {
  std::string plugin, url, format = "raw", payload = R"({"status":"purchased"})";
  long topics = 1, messages = 1, calls = 100000, threads = 1, pool = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "herald_bench_redis: %s\nusage: herald_bench_redis --plugin PATH --url URL "
               "[--topics T] [--messages M] [--calls N] [--threads K] [--format raw|laravel] "
               "[--payload TEXT] [--pool P]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view key = argv[i];
    if (i + 1 >= argc) usage("every option takes a value");
    const char* value = argv[++i];
    auto number = [&] {
      char* end = nullptr;
      const long v = std::strtol(value, &end, 10);
      if (end == value || *end != '\0' || v < 1) usage("counts must be positive integers");
      return v;
    };
    if (key == "--plugin")
      a.plugin = value;
    else if (key == "--url")
      a.url = value;
    else if (key == "--format")
      a.format = value;
    else if (key == "--payload")
      a.payload = value;
    else if (key == "--topics")
      a.topics = number();
    else if (key == "--messages")
      a.messages = number();
    else if (key == "--calls")
      a.calls = number();
    else if (key == "--threads")
      a.threads = number();
    else if (key == "--pool")
      a.pool = number();
    else
      usage("unknown option");
  }
  if (a.plugin.empty() || a.url.empty()) usage("--plugin and --url are required");
  return a;
}

herald_str str(std::string_view s) { return herald_str{s.data(), s.size()}; }

void host_log(void*, int level, herald_str message) {
  if (level >= HERALD_LOG_WARN)
    std::fprintf(stderr, "[driver] %.*s\n", static_cast<int>(message.size), message.data);
}
int host_log_enabled(void*, int level) { return level >= HERALD_LOG_WARN; }
int host_authorize_topic(void*, const herald_request*, herald_str, herald_param_fn, void*,
                         herald_error*) {
  return HERALD_TOPIC_NO_MATCH;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  void* lib = ::dlopen(args.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) usage(::dlerror());
  auto probe = reinterpret_cast<herald_abi_probe_fn>(::dlsym(lib, HERALD_ABI_PROBE_SYMBOL));
  auto get = reinterpret_cast<herald_descriptor_fn>(::dlsym(lib, HERALD_DESCRIPTOR_SYMBOL));
  if (probe == nullptr || get == nullptr || HERALD_ABI_VERSION_MAJOR(probe()) != HERALD_ABI_MAJOR)
    usage("not a Herald ABI 1 driver plugin");
  const herald_driver_descriptor* d = get();

  // The connection's settings, as the host would pass them.
  const std::string pool = std::to_string(args.pool != 0 ? args.pool : args.threads);
  std::vector<herald_config_entry> entries{
      {str("driver"), str("redis"), 1},
      {str("url"), str(args.url), 1},
      {str("format"), str(args.format), 1},
      {str("pool_size"), str(pool), 0},
  };
  const std::string json = "{\"driver\":\"redis\",\"url\":\"" + args.url + "\",\"format\":\"" +
                           args.format + "\",\"pool_size\":" + pool + "}";
  herald_config config{};
  config.struct_size = sizeof config;
  config.connection = str("bench");
  config.json = str(json);
  config.entries = entries.data();
  config.entry_count = entries.size();
  herald_host_api host{};
  host.struct_size = sizeof host;
  host.host_abi_version = HERALD_ABI_VERSION;
  host.log = host_log;
  host.log_enabled = host_log_enabled;
  host.authorize_topic = host_authorize_topic;
  char error_text[1024] = "";
  herald_error error{sizeof(herald_error), error_text, sizeof error_text};
  void* instance = nullptr;
  if (d->create(&host, &config, &instance, &error) != HERALD_OK) usage(error_text);

  std::vector<std::string> topic_names;
  for (long t = 0; t < args.topics; ++t) topic_names.push_back("order." + std::to_string(t + 1));
  std::vector<herald_str> topics, messages;
  for (const auto& t : topic_names) topics.push_back(str(t));
  for (long m = 0; m < args.messages; ++m) messages.push_back(str(args.payload));

  std::atomic<bool> failed{false};
  auto run = [&](long calls) {
    char text[1024] = "";
    herald_error err{sizeof(herald_error), text, sizeof text};
    for (long i = 0; i < calls && !failed.load(std::memory_order_relaxed); ++i) {
      if (d->publish(instance, topics.data(), topics.size(), messages.data(), messages.size(),
                     &err) != HERALD_OK) {
        if (!failed.exchange(true)) std::fprintf(stderr, "publish failed: %s\n", text);
      }
    }
  };
  run(std::max(1L, args.calls / 20));  // warm-up: connections open, caches warm
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (long t = 0; t < args.threads; ++t) threads.emplace_back(run, args.calls);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_start;
  d->destroy(instance);
  if (failed) return 1;
  const double publishes = static_cast<double>(args.topics * args.messages) *
                           static_cast<double>(args.calls * args.threads);
  std::printf("publishes=%.0f seconds=%.3f rate=%.0f cpu=%.3f\n", publishes, seconds,
              publishes / seconds, cpu);
  return 0;
}
