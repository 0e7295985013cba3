// Throughput and latency of the `centrifugo` and `pusher` drivers' publish calls against a local
// keep-alive HTTP sink, compared in the same run with raw libcurl POSTs of the very same request
// bodies to the same sink on one reused handle (the reference: what any HTTP client must pay).
//
// The plugins are loaded from their .so files and driven through the C ABI, as the host does
// (dlopen + descriptor + create/publish), with a minimal host API. The sink (Beast, one thread per
// connection) answers at once with a prebuilt reply; it records the first body it sees for each
// path, which the raw-libcurl reference then replays byte for byte.
//
//   herald_bench_http_drivers [--seconds S] [--rounds R] [--only TEXT] [--plugins DIR]
//
// Prints one table: calls/s, messages/s, p50 and p99 latency per publish call, and the driver's
// cost relative to raw libcurl for the same requests.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <herald/driver.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- the sink ---------------------------------------------------------------------------------

class Sink {
 public:
  Sink() : acceptor_(io_, {boost::asio::ip::address_v4::loopback(), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~Sink() {
    stopping_ = true;
    boost::system::error_code ignored;
    tcp::socket wake(io_);  // a connection wakes the blocking accept()
    wake.connect({boost::asio::ip::address_v4::loopback(), port_}, ignored);
    thread_.join();
    {
      std::lock_guard lock(mutex_);
      for (auto& s : sockets_) s.shutdown(tcp::socket::shutdown_both, ignored);
    }
    for (auto& t : workers_) t.join();
  }
  std::uint16_t port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The reply body for requests whose path ends with `suffix`.
  void reply(const std::string& suffix, std::string body) {
    std::lock_guard lock(mutex_);
    replies_[suffix] = std::move(body);
  }
  // The first body seen for a path ending with `suffix` since the last clear.
  std::string sample(const std::string& suffix) {
    std::lock_guard lock(mutex_);
    return samples_[suffix];
  }
  std::string sample_target(const std::string& suffix) {
    std::lock_guard lock(mutex_);
    return targets_[suffix];
  }
  void clear_samples() {
    std::lock_guard lock(mutex_);
    samples_.clear();
    targets_.clear();
  }
  std::uint64_t requests() const { return requests_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (stopping_ || ec) continue;
      std::lock_guard lock(mutex_);
      sockets_.push_back(std::move(s));
      tcp::socket& socket = sockets_.back();
      workers_.emplace_back([this, &socket] { serve(socket); });
    }
  }

  void serve(tcp::socket& socket) {
    socket.set_option(tcp::no_delay(true));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      boost::system::error_code ec;
      bhttp::read(socket, buffer, parser, ec);
      if (ec) return;
      const auto& req = parser.get();
      const std::string_view target = req.target();
      const std::string_view path = target.substr(0, target.find('?'));
      std::string body = "{}";
      {
        std::lock_guard lock(mutex_);
        for (const auto& [suffix, reply] : replies_) {
          if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) {
            body = reply;
            if (samples_.find(suffix) == samples_.end()) {
              samples_[suffix] = req.body();
              targets_[suffix] = std::string(target);
            }
            break;
          }
        }
      }
      ++requests_;
      res.set(bhttp::field::content_type, "application/json");
      res.body() = std::move(body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      bhttp::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> requests_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::list<tcp::socket> sockets_;
  std::list<std::thread> workers_;
  std::map<std::string, std::string> replies_, samples_, targets_;
};

// ---- a plugin through the C ABI ----------------------------------------------------------------

herald_str str(std::string_view s) { return {s.data(), s.size()}; }

class Driver {
 public:
  Driver(const std::string& path, std::vector<std::pair<std::string, std::string>> strings,
         std::vector<std::pair<std::string, std::string>> json)
      : strings_(std::move(strings)), json_(std::move(json)) {
    lib_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib_ == nullptr) throw std::runtime_error("cannot load " + path + ": " + ::dlerror());
    auto get = reinterpret_cast<herald_descriptor_fn>(::dlsym(lib_, HERALD_DESCRIPTOR_SYMBOL));
    if (get == nullptr) throw std::runtime_error(path + " is not a Herald driver");
    d_ = get();
    api_.struct_size = sizeof api_;
    api_.host_abi_version = HERALD_ABI_VERSION;
    api_.ctx = nullptr;
    api_.log = [](void*, int, herald_str) {};
    api_.log_enabled = [](void*, int) { return 0; };
    api_.authorize_topic = [](void*, const herald_request*, herald_str, herald_param_fn, void*,
                              herald_error*) { return int(HERALD_TOPIC_DENY); };
    std::vector<herald_config_entry> entries;
    for (auto& [k, v] : strings_) entries.push_back({str(k), str(v), 1});
    for (auto& [k, v] : json_) entries.push_back({str(k), str(v), 0});
    herald_config config{};
    config.struct_size = sizeof config;
    config.connection = str("bench");
    config.json = str("{}");
    config.entries = entries.data();
    config.entry_count = entries.size();
    char text[1024] = "";
    herald_error err{sizeof(herald_error), text, sizeof text};
    if (d_->create(&api_, &config, &instance_, &err) != HERALD_OK)
      throw std::runtime_error(std::string("create failed: ") + text);
  }
  ~Driver() {
    if (instance_ != nullptr) d_->destroy(instance_);
    // The library stays mapped: libcurl/OpenSSL keep global state for the process.
  }

  void publish(const std::vector<herald_str>& topics, const std::vector<herald_str>& messages) {
    char text[1024] = "";
    herald_error err{sizeof(herald_error), text, sizeof text};
    if (d_->publish(instance_, topics.data(), topics.size(), messages.data(), messages.size(),
                    &err) != HERALD_OK)
      throw std::runtime_error(std::string("publish failed: ") + text);
  }

 private:
  std::vector<std::pair<std::string, std::string>> strings_, json_;
  void* lib_ = nullptr;
  const herald_driver_descriptor* d_ = nullptr;
  herald_host_api api_{};
  void* instance_ = nullptr;
};

// ---- raw libcurl: the reference -----------------------------------------------------------------

std::size_t discard(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

class RawCurl {
 public:
  RawCurl(const std::string& url, std::vector<std::string> headers) : url_(url) {
    curl_ = curl_easy_init();
    for (const auto& h : headers) list_ = curl_slist_append(list_, h.c_str());
    list_ = curl_slist_append(list_, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list_);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &discard);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply_);
    curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
  }
  ~RawCurl() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(list_);
  }
  void post(const std::string& body) {
    reply_.clear();
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
    if (curl_easy_perform(curl_) != CURLE_OK) throw std::runtime_error("raw POST failed");
  }

 private:
  std::string url_;
  CURL* curl_ = nullptr;
  curl_slist* list_ = nullptr;
  std::string reply_;
};

// ---- measuring ----------------------------------------------------------------------------------

struct Result {
  std::string name;
  double calls_per_s = 0, msgs_per_s = 0, p50_us = 0, p99_us = 0;
};

// Latencies and busy time of one side, over every round.
struct Samples {
  std::vector<double> latencies_us;
  double seconds = 0;
};

// Runs `call` from `threads` threads for `seconds`, timing every call, into `out`. Each thread
// makes its own call object (its own handle for raw libcurl; the shared driver instance).
void run_slice(int threads, double seconds, const std::function<std::function<void()>()>& make_call,
               Samples& out) {
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::function<void()> call = make_call();
      for (int i = 0; i < 50; ++i) call();  // warm-up: connections, caches
      ++ready;
      while (!go.load()) std::this_thread::yield();
      const auto stop = Clock::now() + std::chrono::duration<double>(seconds);
      auto& mine = latencies[t];
      mine.reserve(100000);
      for (;;) {
        const auto t0 = Clock::now();
        call();
        const auto t1 = Clock::now();
        mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        if (t1 >= stop) break;
      }
    });
  }
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = Clock::now();
  go = true;
  for (auto& th : pool) th.join();
  out.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& v : latencies) out.latencies_us.insert(out.latencies_us.end(), v.begin(), v.end());
}

Result summarize(const std::string& name, int messages_per_call, Samples& s) {
  std::sort(s.latencies_us.begin(), s.latencies_us.end());
  const auto& all = s.latencies_us;
  Result r;
  r.name = name;
  r.calls_per_s = double(all.size()) / s.seconds;
  r.msgs_per_s = r.calls_per_s * messages_per_call;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

void print_row(const Result& r, const Result* reference) {
  char ratio[64] = "";
  if (reference != nullptr)
    std::snprintf(ratio, sizeof ratio, "%5.2fx   %5.2fx", reference->calls_per_s / r.calls_per_s,
                  r.p99_us / reference->p99_us);
  std::printf("%-44s %10.0f %11.0f %9.1f %9.1f   %s\n", r.name.c_str(), r.calls_per_s, r.msgs_per_s,
              r.p50_us, r.p99_us, ratio);
  std::fflush(stdout);
}

std::vector<herald_str> views(const std::vector<std::string>& v) {
  std::vector<herald_str> out;
  for (const auto& s : v) out.push_back(str(s));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  int rounds = 5;
  std::string only;  // run only the rows whose label contains this
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
  std::string plugins = HERALD_BENCH_PLUGIN_DIR;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--plugins") == 0) plugins = argv[i + 1];
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Sink sink;
  const std::string message = R"({"order":42,"status":"shipped","items":[1,2,3]})";
  const std::vector<std::string> topic = {"orders"};
  auto batch_of = [&](int n) { return std::vector<std::string>(std::size_t(n), message); };

  constexpr int kCentrifugoBatch = 50;
  std::string replies = R"({"replies":[)";
  for (int i = 0; i < kCentrifugoBatch; ++i)
    replies += (i ? "," : "") + std::string(R"({"publish":{}})");
  replies += "]}";
  sink.reply("/api/publish", R"({"result":{}})");
  sink.reply("/api/batch", replies);
  sink.reply("/events", "{}");
  sink.reply("/batch_events", "{}");

  std::printf(
      "HTTP drivers vs raw libcurl, same requests, same sink (127.0.0.1:%u), %.1f s per row in %d "
      "interleaved rounds\n",
      unsigned(sink.port()), seconds, rounds);
  std::printf("message: %s (%zu bytes), topic `orders`\n\n", message.c_str(), message.size());
  std::printf("%-44s %10s %11s %9s %9s   %s\n", "scenario", "calls/s", "msgs/s", "p50 us", "p99 us",
              "cost vs raw (time/call, p99)");

  const std::string centrifugo_so = plugins + "/herald_centrifugo.so";
  const std::string pusher_so = plugins + "/herald_pusher.so";
  const std::vector<std::pair<std::string, std::string>> centrifugo_cfg = {
      {"url", sink.base() + "/api"}, {"api_key", "bench-key"}};
  const std::vector<std::pair<std::string, std::string>> pusher_cfg = {{"app_id", "1"},
                                                                       {"key", "bench-key"},
                                                                       {"secret", "bench-secret"},
                                                                       {"host", "127.0.0.1"},
                                                                       {"scheme", "http"}};
  const std::vector<std::pair<std::string, std::string>> pusher_port = {
      {"port", std::to_string(sink.port())}};
  const std::vector<std::string> centrifugo_headers = {"Content-Type: application/json",
                                                       "X-API-Key: bench-key"};

  struct Scenario {
    std::string driver;  // "centrifugo" | "pusher"
    int messages;
    int threads;
    std::string path;  // sink suffix of the single request each call makes
  };
  const Scenario scenarios[] = {
      {"centrifugo", 1, 1, "/api/publish"}, {"centrifugo", kCentrifugoBatch, 1, "/api/batch"},
      {"centrifugo", 1, 4, "/api/publish"}, {"pusher", 1, 1, "/events"},
      {"pusher", 10, 1, "/batch_events"},   {"pusher", 1, 4, "/events"},
  };
  for (const Scenario& s : scenarios) {
    const bool cf = s.driver == "centrifugo";
    const std::string label = s.driver + " " + std::to_string(s.messages) + " msg/call" +
                              (s.threads > 1 ? ", " + std::to_string(s.threads) + " threads" : "");
    if (!only.empty() && label.find(only) == std::string::npos) continue;
    Driver driver(cf ? centrifugo_so : pusher_so, cf ? centrifugo_cfg : pusher_cfg,
                  cf ? std::vector<std::pair<std::string, std::string>>{} : pusher_port);
    const std::vector<std::string> messages = batch_of(s.messages);
    const auto t = views(topic), m = views(messages);
    sink.clear_samples();
    // First one driver slice: the sink records the exact request the driver sends (body and,
    // for pusher, the signed URL), which the reference then replays, so only the driver's own
    // work differs. Then reference and driver alternate (ABAB...) so a slow phase of the
    // machine hits both sides.
    auto driver_call = [&] { return std::function<void()>([&] { driver.publish(t, m); }); };
    Samples driven, raw;
    run_slice(1, 0.05, driver_call, driven);
    driven = Samples{};
    const std::string body = sink.sample(s.path);
    const std::string url = sink.base() + sink.sample_target(s.path);
    const std::vector<std::string> headers =
        cf ? centrifugo_headers : std::vector<std::string>{"Content-Type: application/json"};
    auto raw_call = [&] {
      auto curl = std::make_shared<RawCurl>(url, headers);
      return std::function<void()>([curl, &body] { curl->post(body); });
    };
    for (int round = 0; round < rounds; ++round) {
      run_slice(s.threads, seconds / rounds, raw_call, raw);
      run_slice(s.threads, seconds / rounds, driver_call, driven);
    }
    const Result raw_result = summarize(label + " (raw libcurl)", s.messages, raw);
    const Result driven_result = summarize(label + " (driver)", s.messages, driven);
    print_row(raw_result, nullptr);
    print_row(driven_result, &raw_result);
  }
  std::printf("\nsink requests served: %llu\n", static_cast<unsigned long long>(sink.requests()));
  return 0;
}
