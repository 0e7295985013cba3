// Benchmarks of the publish path: what the C ABI costs compared with an in-process call.
//
//   publish_cached/*    1 topic, 1 message, connection (shared_ptr) obtained once
//   publish_lookup/*    the same, but manager.connection("null") looked up on every call
//   publish_template/*  the convenience template publish("order.1", "payload"), cached
//   log_file/*          the `log` driver writing to a file vs raw spdlog writing the same lines
//
// `*/direct` and `log_file/raw_spdlog` are the references; `*/abi_null` and
// `log_file/log_driver` go through the real plugins loaded by a herald::Runtime. After the run
// a ratio table compares medians (or single runs) against the issue's goals:
// ABI time <= 1.5x direct, log driver throughput >= 0.8x raw spdlog. A FAIL is printed, never
// turned into a failing exit code: benchmarks are not tests. See bench/README.md.
#include <benchmark/benchmark.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "broadcast/broadcast.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "config/broadcast_config.hpp"
#include "direct_broadcast.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace {

namespace fs = std::filesystem;
using herald::Broadcast;
using herald::Texts;
using herald::testing_support::TempDir;
using herald::testing_support::write_file;

// ---- inputs, identical on both sides of every comparison ----

constexpr std::string_view kTopic = "order.1";
constexpr std::string_view kMessage = R"({"status":"purchased"})";
const std::string_view kTopics[] = {kTopic};
const std::string_view kMessages[] = {kMessage};
// The line both log benchmarks write (after the pattern's "[timestamp] [info] " prefix).
const std::string kExpectedLine =
    "Broadcasting on channels [order.1] with payload: {\"status\":\"purchased\"}";
// The log plugin's default pattern (plugins/log/log_driver.cpp, kDefaultPattern).
constexpr const char* kLogPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";

// ---- scratch directory under /tmp, removed at exit (and on Ctrl-C) ----

char g_scratch_path[4096];  // for the signal handler, which must not allocate

// Best effort on SIGINT/SIGTERM/SIGHUP with async-signal-safe calls only: unlink the files
// (the log benchmarks can leave tens of MB), remove the directory, die of the same signal.
extern "C" void remove_scratch_and_die(int sig) {
  const int dir = ::open(g_scratch_path, O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    alignas(8) char buf[4096];
    long n;
    while ((n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        const auto* entry = reinterpret_cast<const struct dirent64*>(buf + off);
        if (entry->d_name[0] != '.') ::unlinkat(dir, entry->d_name, 0);  // ours never start with '.'
        off += entry->d_reclen;
      }
    }
    ::close(dir);
    ::rmdir(g_scratch_path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Registers remove_scratch_and_die for `dir` (when its path fits g_scratch_path).
bool remove_on_signal(const fs::path& dir) {
  const std::string path = dir.string();
  if (path.size() >= sizeof g_scratch_path) return false;
  std::memcpy(g_scratch_path, path.c_str(), path.size() + 1);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, remove_scratch_and_die);
  return true;
}

TempDir& scratch() {
  static TempDir dir("herald-bench", "/tmp");
  static const bool removed_on_signal = remove_on_signal(dir.path());
  (void)removed_on_signal;
  return dir;
}

// No environment at all: nothing from the caller's shell can change what is measured.
herald::EnvLookup no_env() {
  return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
}

// The host's own logger, silenced (it never logs on the publish path anyway).
std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("bench-host",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

// TOML literal strings ('...') need no escaping for ordinary paths.
std::string toml_path(const fs::path& p) { return "'" + p.string() + "'"; }

std::string config_header(std::string_view default_connection) {
  return "default = \"" + std::string(default_connection) + "\"\nplugin_dirs = [" +
         toml_path(HERALD_BENCH_PLUGIN_DIR) + "]\n";
}

std::unique_ptr<herald::Runtime> make_runtime(const fs::path& config_file) {
  herald::RuntimeOptions options;
  options.config_file = config_file;
  options.env = no_env();
  options.logger = quiet_logger();
  return std::make_unique<herald::Runtime>(std::move(options));
}

// A DriverFactory that makes the in-process reference object instead of loading a plugin, so
// the lookup benchmarks run the very same BroadcastManager code on both sides.
class DirectFactory final : public herald::DriverFactory {
 public:
  std::shared_ptr<Broadcast> make(const herald::ConnectionConfig&) override {
    return herald::bench::make_direct_null_broadcast();
  }
};

// ---- the `null` setup, shared by the publish benchmarks (created once) ----

struct NullSetup {
  std::unique_ptr<herald::Runtime> runtime;             // loads plugins/herald_null.so
  std::unique_ptr<herald::BroadcastManager> direct;     // same config, in-process factory
};

NullSetup& null_setup() {
  static NullSetup setup = [] {
    const fs::path file = scratch().path() / "null.toml";
    write_file(file, config_header("null") + "\n[connections.null]\ndriver = \"null\"\n");
    NullSetup s;
    s.runtime = make_runtime(file);
    auto config = std::make_shared<const herald::BroadcastConfig>(
        herald::BroadcastConfig::load(file, no_env()));
    s.direct = std::make_unique<herald::BroadcastManager>(std::move(config),
                                                          std::make_shared<DirectFactory>());
    // Create both instances now so no benchmark ever times the first (creating) lookup.
    s.runtime->manager().connection("null");
    s.direct->connection("null");
    return s;
  }();
  return setup;
}

// Hides the pointer's value from the optimizer (the same on both sides).
Broadcast& opaque(Broadcast& b) {
  Broadcast* p = &b;
  benchmark::DoNotOptimize(p);
  return *p;
}

// ---- (a) publish: 1 topic, 1 message ----

enum class Side { direct, abi };

// The connection, obtained once, as Spiral binds BroadcastInterface to manager->connection().
std::shared_ptr<Broadcast> cached_connection(Side side) {
  if (side == Side::abi) return null_setup().runtime->manager().connection("null");
  // Non-owning handle on the opaque process-wide reference object.
  return std::shared_ptr<Broadcast>(std::shared_ptr<void>{}, &herald::bench::direct_null_broadcast());
}

herald::BroadcastManager& manager_for(Side side) {
  return side == Side::abi ? null_setup().runtime->manager() : *null_setup().direct;
}

void BM_PublishCached(benchmark::State& state, Side side) {
  std::shared_ptr<Broadcast> connection;
  try {
    connection = cached_connection(side);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Broadcast& broadcast = opaque(*connection);
  Texts topic_views(kTopics);
  Texts message_views(kMessages);
  for (auto _ : state) {
    benchmark::DoNotOptimize(topic_views);
    benchmark::DoNotOptimize(message_views);
    broadcast.publish(topic_views, message_views);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PublishLookup(benchmark::State& state, Side side) {
  herald::BroadcastManager* manager = nullptr;
  try {
    manager = &manager_for(side);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  benchmark::DoNotOptimize(manager);
  Texts topic_views(kTopics);
  Texts message_views(kMessages);
  for (auto _ : state) {
    benchmark::DoNotOptimize(topic_views);
    benchmark::DoNotOptimize(message_views);
    manager->connection("null")->publish(topic_views, message_views);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PublishTemplate(benchmark::State& state, Side side) {
  std::shared_ptr<Broadcast> connection;
  try {
    connection = cached_connection(side);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Broadcast& broadcast = opaque(*connection);
  for (auto _ : state) {
    broadcast.publish("order.1", R"({"status":"purchased"})");
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- (b) the log driver vs raw spdlog, both to a file, flushed after every line ----

// Checks what a log benchmark wrote: one well-formed line per iteration. Returns an error.
std::optional<std::string> check_log_file(const fs::path& file, benchmark::IterationCount n) {
  std::ifstream in(file);
  std::string line;
  benchmark::IterationCount lines = 0;
  bool first_ok = true;
  while (std::getline(in, line)) {
    if (lines++ == 0)
      first_ok = line.size() > kExpectedLine.size() &&
                 line.ends_with("] [info] " + kExpectedLine);
  }
  if (!first_ok) return "unexpected log line in " + file.string();
  if (lines != n)
    return "wrote " + std::to_string(lines) + " lines for " + std::to_string(n) + " publishes";
  return std::nullopt;
}

int next_run_id() {
  static int id = 0;
  return ++id;
}

void BM_LogDriver(benchmark::State& state) {
  const int id = next_run_id();
  const fs::path log_file = scratch().path() / ("driver-" + std::to_string(id) + ".log");
  const fs::path config = scratch().path() / ("log-" + std::to_string(id) + ".toml");
  std::unique_ptr<herald::Runtime> runtime;
  std::shared_ptr<Broadcast> connection;
  try {
    // sink = "file", flush = true, the plugin's default pattern and level (info).
    write_file(config, config_header("log") + "\n[connections.log]\ndriver = \"log\"\n"
                       "sink = \"file\"\npath = " + toml_path(log_file) + "\nflush = true\n");
    runtime = make_runtime(config);
    connection = runtime->manager().connection("log");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Broadcast& broadcast = opaque(*connection);
  Texts topic_views(kTopics);
  Texts message_views(kMessages);
  for (auto _ : state) {
    benchmark::DoNotOptimize(topic_views);
    benchmark::DoNotOptimize(message_views);
    broadcast.publish(topic_views, message_views);
  }
  state.SetItemsProcessed(state.iterations());
  connection.reset();
  runtime.reset();  // destroys the instance: the file is closed
  if (auto error = check_log_file(log_file, state.iterations())) state.SkipWithError(error->c_str());
  std::error_code ec;
  fs::remove(log_file, ec);
  fs::remove(config, ec);
}

void BM_RawSpdlog(benchmark::State& state) {
  const fs::path log_file =
      scratch().path() / ("raw-" + std::to_string(next_run_id()) + ".log");
  std::shared_ptr<spdlog::logger> logger;
  try {
    // What the log driver builds for sink = "file", flush = true, minus the ABI.
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string());
    logger = std::make_shared<spdlog::logger>("raw", std::move(sink));
    logger->set_pattern(kLogPattern);
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::string_view topic = kTopic;
  std::string_view message = kMessage;
  for (auto _ : state) {
    benchmark::DoNotOptimize(topic);
    benchmark::DoNotOptimize(message);
    // The same line from the same inputs, formatted by spdlog itself.
    logger->log(spdlog::level::info, "Broadcasting on channels [{}] with payload: {}", topic,
                message);
  }
  state.SetItemsProcessed(state.iterations());
  logger.reset();  // closes the file
  if (auto error = check_log_file(log_file, state.iterations())) state.SkipWithError(error->c_str());
  std::error_code ec;
  fs::remove(log_file, ec);
}

// ---- registration ----

double stat_min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double stat_max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

void with_range(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);
}

void register_benchmarks() {
  // Pairs are registered reference first, then the ABI side; with
  // --benchmark_enable_random_interleaving=true (bench/run.sh) repetitions are interleaved.
  with_range(benchmark::RegisterBenchmark("publish_cached/direct", BM_PublishCached, Side::direct));
  with_range(benchmark::RegisterBenchmark("publish_cached/abi_null", BM_PublishCached, Side::abi));
  with_range(benchmark::RegisterBenchmark("publish_lookup/direct", BM_PublishLookup, Side::direct));
  with_range(benchmark::RegisterBenchmark("publish_lookup/abi_null", BM_PublishLookup, Side::abi));
  with_range(
      benchmark::RegisterBenchmark("publish_template/direct", BM_PublishTemplate, Side::direct));
  with_range(
      benchmark::RegisterBenchmark("publish_template/abi_null", BM_PublishTemplate, Side::abi));
  with_range(benchmark::RegisterBenchmark("log_file/raw_spdlog", BM_RawSpdlog));
  with_range(benchmark::RegisterBenchmark("log_file/log_driver", BM_LogDriver));
}

// ---- the ratio table ----

struct Figures {
  double cpu_time = 0;          // in `unit`
  double items_per_second = 0;
  std::string unit;
  std::optional<double> min_time, max_time;  // over repetitions, when run with repetitions
  std::optional<double> min_ips, max_ips;
};

// A console reporter that also keeps, per benchmark, the median aggregate (or the single run
// when there are no repetitions) for the ratio table.
class CollectingReporter final : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) {
        errors_[run.run_name.str()] = run.error_message;
        continue;
      }
      const std::string name = run.run_name.str();
      Figures& f = figures_[name];
      const double ips = items(run);
      if (run.run_type == Run::RT_Iteration) {
        if (!has_median_.contains(name)) set(f, run, ips);
      } else if (run.aggregate_name == "median") {
        has_median_[name] = true;
        set(f, run, ips);
      } else if (run.aggregate_name == "min") {
        f.min_time = run.GetAdjustedCPUTime();
        f.min_ips = ips;
      } else if (run.aggregate_name == "max") {
        f.max_time = run.GetAdjustedCPUTime();
        f.max_ips = ips;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  const std::map<std::string, Figures>& figures() const noexcept { return figures_; }
  const std::map<std::string, std::string>& errors() const noexcept { return errors_; }

 private:
  static double items(const Run& run) {
    auto it = run.counters.find("items_per_second");
    return it == run.counters.end() ? 0.0 : static_cast<double>(it->second.value);
  }
  static void set(Figures& f, const Run& run, double ips) {
    f.cpu_time = run.GetAdjustedCPUTime();
    f.unit = benchmark::GetTimeUnitString(run.time_unit);
    f.items_per_second = ips;
  }

  std::map<std::string, Figures> figures_;
  std::map<std::string, bool> has_median_;
  std::map<std::string, std::string> errors_;
};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Two decimals, or three when two would print the goal itself (1.503 is not 1.50).
std::string ratio_text(double ratio, double goal) {
  std::string text = fixed(ratio, 2);
  return text == fixed(goal, 2) && ratio != goal ? fixed(ratio, 3) : text;
}

std::string time_cell(const Figures& f) {
  std::string s = fixed(f.cpu_time, 2) + " " + f.unit;
  if (f.min_time && f.max_time)
    s += " [" + fixed(*f.min_time, 2) + ".." + fixed(*f.max_time, 2) + "]";
  return s;
}

std::string rate_cell(const Figures& f) {
  std::string s = fixed(f.items_per_second / 1e3, 1) + "k/s";
  if (f.min_ips && f.max_ips)
    s += " [" + fixed(*f.min_ips / 1e3, 1) + ".." + fixed(*f.max_ips / 1e3, 1) + "]";
  return s;
}

void print_ratio_table(const CollectingReporter& reporter, std::ostream& out) {
  const auto& figures = reporter.figures();
  auto find = [&](const std::string& name) -> const Figures* {
    auto it = figures.find(name);
    return it == figures.end() ? nullptr : &it->second;
  };
  struct Row {
    std::string label;
    std::string reference, subject;
    bool throughput;  // compare items/s (higher is better) instead of time (lower is better)
    double goal;
  };
  const Row rows[] = {
      {"publish, connection cached", "publish_cached/direct", "publish_cached/abi_null", false,
       1.5},
      {"publish, connection() lookup", "publish_lookup/direct", "publish_lookup/abi_null",
       false, 1.5},
      {"publish(\"order.1\", \"payload\")", "publish_template/direct",
       "publish_template/abi_null", false, 1.5},
      {"log driver to file vs spdlog", "log_file/raw_spdlog", "log_file/log_driver", true, 0.8},
  };

  out << "\nRatio table (medians of CPU time; [min..max] over repetitions)\n";
  out << "  goal: ABI publish time <= 1.5x the direct call; log driver throughput >= 0.8x raw"
         " spdlog\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-32s %-34s %-34s %-16s %s\n", "comparison",
                "reference (direct / raw spdlog)", "herald (ABI / log driver)", "ratio",
                "verdict");
  out << line;
  int failures = 0, compared = 0;
  for (const Row& row : rows) {
    const Figures* ref = find(row.reference);
    const Figures* sub = find(row.subject);
    if (ref == nullptr || sub == nullptr) {
      std::snprintf(line, sizeof line, "  %-32s %s\n", row.label.c_str(),
                    "n/a (not run, filtered out or failed)");
      out << line;
      continue;
    }
    double ratio = 0;
    bool pass = false;
    std::string ratio_cell, ref_text, sub_text;
    if (row.throughput) {
      ratio = ref->items_per_second > 0 ? sub->items_per_second / ref->items_per_second : 0;
      pass = ratio >= row.goal;
      ratio_cell = ratio_text(ratio, row.goal) + "x (>= " + fixed(row.goal, 1) + ")";
      ref_text = rate_cell(*ref);
      sub_text = rate_cell(*sub);
    } else {
      ratio = ref->cpu_time > 0 ? sub->cpu_time / ref->cpu_time : 0;
      pass = ratio <= row.goal;
      ratio_cell = ratio_text(ratio, row.goal) + "x (<= " + fixed(row.goal, 1) + ")";
      ref_text = time_cell(*ref);
      sub_text = time_cell(*sub);
    }
    ++compared;
    if (!pass) ++failures;
    std::snprintf(line, sizeof line, "  %-32s %-34s %-34s %-16s %s\n", row.label.c_str(),
                  ref_text.c_str(), sub_text.c_str(), ratio_cell.c_str(),
                  pass ? "PASS" : "FAIL");
    out << line;
  }
  for (const auto& [name, message] : reporter.errors())
    out << "  ERROR in " << name << ": " << message << "\n";
  if (compared == 0)
    out << "\n  no comparison ran (both sides of a pair must run)\n";
  else if (failures > 0)
    out << "\n  " << failures << " of " << compared
        << " goal(s) MISSED (reported, not an error: benchmarks are not tests)\n";
  else
    out << "\n  all " << compared << " goal(s) met\n";
  out.flush();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();
  const bool color = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  CollectingReporter reporter(color ? benchmark::ConsoleReporter::OO_Color
                                    : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_ratio_table(reporter, std::cout);
  benchmark::Shutdown();
  return 0;
}
