// The `redis` driver plugin, loaded for real (Runtime -> herald_redis.so), against a real
// redis-server started per test on a free port: exact bytes at a subscriber, pipelining,
// Laravel format, concurrency through the pool, restarts, health, unix sockets, credentials,
// timeouts and refusals; and the same failures through the real `herald` binary (exit code 1,
// one line, no password anywhere).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "broadcast/broadcast.hpp"
#include "cli_test_support.hpp"
#include "core/errors.hpp"
#include "redis_server.hpp"
#include "runtime/runtime.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cli_test::Describe;
using cli_test::ProcessResult;
using cli_test::RunOptions;
using cli_test::RunProcess;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testing_support::BackgroundProcess;
using testing_support::find_program;
using testing_support::free_tcp_port;
using testing_support::RedisServer;
using testing_support::RespClient;
using testing_support::RespMessage;
using testing_support::split_lines;
using testing_support::TempDir;

const fs::path kPlugins = HERALD_TEST_PLUGIN_DIR;
const fs::path kHerald = HERALD_TEST_BINARY;

std::vector<std::string> payloads(const std::vector<RespMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.payload);
  return out;
}

std::string resp_publish(std::string_view channel, std::string_view payload) {
  return "*3\r\n$7\r\nPUBLISH\r\n$" + std::to_string(channel.size()) + "\r\n" +
         std::string(channel) + "\r\n$" + std::to_string(payload.size()) + "\r\n" +
         std::string(payload) + "\r\n";
}

// A TCP port that accepts connections (the kernel completes the handshake) and never answers:
// a Redis that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::system_error(errno, std::generic_category(), "silent server");
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A listening port whose accept queue is full (backlog 0, filled by queued connects), so the
// kernel drops new SYNs and a connect() never completes: an unreachable Redis host.
class BacklogFullServer {
 public:
  BacklogFullServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 0) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::system_error(errno, std::generic_category(), "backlog server");
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      (void)::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(c);
    }
    pollfd first{fillers_[0], POLLOUT, 0};
    ::poll(&first, 1, 2000);  // the first one is queued; the rest wait in SYN_SENT
  }
  ~BacklogFullServer() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

// A fake Redis for one connection that answers nothing until it has received `expected`
// bytes, then answers `replies` times ":1". A client that waits for a reply before sending its
// next command never gets there: only a pipelining client succeeds.
class PipelineOnlyServer {
 public:
  PipelineOnlyServer(size_t expected, size_t replies) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 4) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::system_error(errno, std::generic_category(), "pipeline server");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, expected, replies] { serve(expected, replies); });
  }
  ~PipelineOnlyServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  // Everything received before answering (waits for the one connection to be served).
  const std::string& received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  void serve(size_t expected, size_t replies) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    auto left = [&] {
      return static_cast<int>(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                   std::chrono::steady_clock::now())
                 .count()));
    };
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left()) <= 0) return;
    const int client = ::accept(fd_, nullptr, nullptr);
    if (client < 0) return;
    while (received_.size() < expected && left() > 0) {
      pollfd c{client, POLLIN, 0};
      if (::poll(&c, 1, left()) <= 0) break;
      char buf[65536];
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
    }
    if (received_.size() == expected) {
      std::string answer;
      for (size_t i = 0; i < replies; ++i) answer += ":1\r\n";
      (void)!::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
    // Everything sent was read, so closing sends the replies and then a clean FIN.
    ::close(client);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string received_;
  std::thread thread_;
};

class RedisDriverTest : public ::testing::Test {
 protected:
  // A config whose default connection `redis` uses the redis driver with `settings` (TOML
  // lines), and that connection.
  std::shared_ptr<Broadcast> Connect(const std::string& settings) {
    const fs::path config = dir_.write("broadcasting.toml",
                                       "default = \"redis\"\n\n"
                                       "[connections.redis]\n"
                                       "driver = \"redis\"\n" +
                                           settings);
    RuntimeOptions options;
    options.config_file = config;
    options.plugin_dirs = {kPlugins};
    options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    options.logger = std::make_shared<spdlog::logger>("redis-driver-test", sink);
    options.logger->set_level(spdlog::level::trace);
    runtime_ = std::make_unique<Runtime>(options);
    return runtime_->manager().connection("redis");
  }

  static std::string Url(const RedisServer& redis) { return "url = \"" + redis.url() + "\"\n"; }

  // The message of the DriverException that publishing throws ("" when it does not throw).
  static std::string PublishError(Broadcast& c, std::string_view topic, std::string_view message) {
    try {
      c.publish(topic, message);
    } catch (const DriverException& e) {
      return e.what();
    }
    return "";
  }

  std::string Log() const { return log_.str(); }

  TempDir dir_{"herald-redis-test"};
  std::ostringstream log_;
  std::unique_ptr<Runtime> runtime_;
};

constexpr std::string_view kFailed = "connection `redis` (driver `redis`): publish failed: ";

// ---- delivery ----

TEST_F(RedisDriverTest, RawMessagesReachASubscriberByteForByte) {
  RedisServer redis;
  auto sub = redis.client();
  sub->subscribe({"orders", "audit"});
  auto c = Connect(Url(redis));

  const std::string binary("line\r\nbreak\0nul \xC3\xA9", 18);
  const std::array<std::string_view, 2> topics{"orders", "audit"};
  const std::array<std::string_view, 3> messages{R"({"status":"purchased"})", binary, ""};
  c->publish(Texts(topics), Texts(messages));

  const auto got = sub->messages(6, 10s);
  ASSERT_THAT(got, SizeIs(6));
  // Each message to every topic, messages in order.
  const std::array<std::string, 6> channels{"orders", "audit",  "orders",
                                            "audit",  "orders", "audit"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(got[i].channel, channels[i]) << i;
    EXPECT_EQ(got[i].payload, std::string(messages[i / 2])) << i;
  }
  EXPECT_FALSE(sub->next_message(200ms)) << "nothing more was published";
}

TEST_F(RedisDriverTest, AllCommandsOfOneCallGoInOnePipelinedWrite) {
  const std::array<std::string_view, 3> topics{"a", "b", "c"};
  const std::array<std::string_view, 4> messages{"1", "22", "333", "4444"};
  std::string expected;
  for (auto m : messages)
    for (auto t : topics) expected += resp_publish(t, m);
  PipelineOnlyServer fake(expected.size(), 12);
  auto c = Connect("url = \"redis://127.0.0.1:" + std::to_string(fake.port()) +
                   "\"\ntimeout_ms = 3000\n");
  c->publish(Texts(topics), Texts(messages));  // would time out without pipelining
  EXPECT_EQ(fake.received(), expected);
}

TEST_F(RedisDriverTest, LargeBatchArrivesCompleteAndInOrder) {
  RedisServer redis;
  auto sub = redis.client();
  sub->psubscribe({"batch.*"});
  auto c = Connect(Url(redis));
  std::vector<std::string> topic_names, message_texts;
  for (int t = 0; t < 25; ++t) topic_names.push_back("batch." + std::to_string(t));
  for (int m = 0; m < 40; ++m) message_texts.push_back("message " + std::to_string(m));
  c->publish(topic_names, message_texts);
  const auto got = sub->messages(1000, 20s);
  ASSERT_THAT(got, SizeIs(1000));
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].channel, topic_names[i % 25]) << i;
    EXPECT_EQ(got[i].payload, message_texts[i / 25]) << i;
  }
}

TEST_F(RedisDriverTest, ZeroMessagesPublishNothingAndNeedNoConnection) {
  auto c = Connect("url = \"redis://127.0.0.1:" + std::to_string(free_tcp_port()) + "\"\n");
  const std::vector<std::string> none;
  EXPECT_NO_THROW(c->publish("t", none));
}

TEST_F(RedisDriverTest, LaravelFormatWithPrefixAndEnvelope) {
  RedisServer redis;
  auto sub = redis.client();
  sub->psubscribe({"laravel_database_*"});
  auto c = Connect(Url(redis) +
                   "format = \"laravel\"\nprefix = \"laravel_database_\"\n"
                   "event = 'App\\Events\\Ping'\n");
  const std::array<std::string_view, 1> topics{"orders.42"};
  const std::array<std::string_view, 3> messages{R"({"event":"OrderShipped","data":{"id":42}})",
                                                 R"({"status":"purchased"})", "plain \"text\""};
  c->publish(Texts(topics), Texts(messages));
  const auto got = sub->messages(3, 10s);
  ASSERT_THAT(got, SizeIs(3));
  for (const auto& m : got) EXPECT_EQ(m.channel, "laravel_database_orders.42");
  EXPECT_THAT(
      payloads(got),
      ElementsAre(R"({"event":"OrderShipped","data":{"id":42},"socket":null})",
                  R"({"event":"App\\Events\\Ping","data":{"status":"purchased"},"socket":null})",
                  R"({"event":"App\\Events\\Ping","data":"plain \"text\"","socket":null})"));
}

TEST_F(RedisDriverTest, ConcurrentPublishersShareABoundedPool) {
  RedisServer redis;
  auto sub = redis.client();
  sub->subscribe({"load"});
  auto c = Connect(Url(redis) + "pool_size = 3\n");
  constexpr int kThreads = 8, kCalls = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        try {
          c->publish("load", std::to_string(t) + ":" + std::to_string(i));
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  const auto got = sub->messages(kThreads * kCalls, 30s);
  ASSERT_THAT(got, SizeIs(kThreads * kCalls));
  // Each thread's calls finish before its next starts, so its messages arrive in order.
  std::array<int, kThreads> next{};
  for (const auto& m : got) {
    const size_t colon = m.payload.find(':');
    const int t = std::stoi(m.payload.substr(0, colon));
    EXPECT_EQ(std::stoi(m.payload.substr(colon + 1)), next[t]) << m.payload;
    next[t] = std::stoi(m.payload.substr(colon + 1)) + 1;
  }
  // The driver's connections: every client but this test's subscriber and admin connection.
  auto admin = redis.client();
  const auto clients = split_lines(admin->command({"CLIENT", "LIST"}).text);
  EXPECT_GE(clients.size(), 3u);
  EXPECT_LE(clients.size() - 2, 3u) << admin->command({"CLIENT", "LIST"}).text;
}

// ---- failures and recovery ----

TEST_F(RedisDriverTest, RedisDownIsAClearRuntimeError) {
  const std::uint16_t port = free_tcp_port();
  auto c = Connect("url = \"redis://127.0.0.1:" + std::to_string(port) + "\"\n");
  EXPECT_EQ(PublishError(*c, "t", "m"),
            std::string(kFailed) + "cannot connect to Redis at 127.0.0.1:" + std::to_string(port) +
                ": Connection refused");
}

TEST_F(RedisDriverTest, RecoversAfterRedisIsKilledAndRestarted) {
  RedisServer redis;
  auto c = Connect(Url(redis));
  {
    auto sub = redis.client();
    sub->subscribe({"t"});
    c->publish("t", "before");
    EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("before"));
  }
  redis.kill();
  EXPECT_EQ(PublishError(*c, "t", "while down"),
            std::string(kFailed) + "cannot connect to Redis at 127.0.0.1:" +
                std::to_string(redis.port()) + ": Connection refused");
  EXPECT_THAT(c->health_problem().value_or("healthy"),
              StartsWith("cannot connect to Redis at 127.0.0.1:" + std::to_string(redis.port())));

  redis.start();
  auto sub = redis.client();
  sub->subscribe({"t"});
  c->publish("t", "after");
  EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("after"));
  EXPECT_EQ(c->health_problem(), std::nullopt);
  EXPECT_THAT(Log(), HasSubstr("reconnected to " + redis.url(0)));
}

TEST_F(RedisDriverTest, ARestartBetweenTwoCallsIsInvisibleToTheCaller) {
  RedisServer redis;
  auto c = Connect(Url(redis) + "pool_size = 1\n");
  c->publish("t", "warm-up");  // the pooled connection is now open
  redis.restart();
  auto sub = redis.client();
  sub->subscribe({"t"});
  EXPECT_NO_THROW(c->publish("t", "after restart"));
  EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("after restart"));
}

TEST_F(RedisDriverTest, SlowRedisHonoursTheTimeout) {
  SilentServer silent;
  auto c = Connect("url = \"redis://127.0.0.1:" + std::to_string(silent.port()) +
                   "\"\ntimeout_ms = 300\n");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(PublishError(*c, "t", "m"), std::string(kFailed) +
                                            "Redis at 127.0.0.1:" + std::to_string(silent.port()) +
                                            " did not answer within 300 ms (reading the reply)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  const auto health_start = std::chrono::steady_clock::now();
  EXPECT_THAT(c->health_problem().value_or("healthy"), HasSubstr("did not answer within 300 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - health_start, 5s);
}

TEST_F(RedisDriverTest, ConnectTimeoutIsHonoured) {
  BacklogFullServer unreachable;
  auto c = Connect("url = \"redis://127.0.0.1:" + std::to_string(unreachable.port()) +
                   "\"\nconnect_timeout_ms = 300\n");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(PublishError(*c, "t", "m"),
            std::string(kFailed) + "cannot connect to Redis at 127.0.0.1:" +
                std::to_string(unreachable.port()) + ": no connection within 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(RedisDriverTest, AuthenticatesWithThePasswordAndNeverShowsIt) {
  RedisServer redis(
      RedisServer::Options().args({"--requirepass", "s3cret-pw"}).password("s3cret-pw"));
  auto sub = redis.client();
  sub->subscribe({"t"});
  const std::string port = std::to_string(redis.port());
  auto good = Connect("url = \"redis://:s3cret-pw@127.0.0.1:" + port + "/0\"\n");
  good->publish("t", "authenticated");
  EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("authenticated"));
  EXPECT_THAT(Log(), HasSubstr("connected to redis://:***@127.0.0.1:" + port + "/0"));

  auto wrong = Connect("url = \"redis://:not-it@127.0.0.1:" + port + "/0\"\n");
  EXPECT_EQ(PublishError(*wrong, "t", "m"),
            std::string(kFailed) + "Redis at 127.0.0.1:" + port +
                " refused AUTH: WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_THAT(wrong->health_problem().value_or("healthy"), HasSubstr("refused AUTH: WRONGPASS"));

  auto none = Connect("url = \"redis://127.0.0.1:" + port + "/0\"\n");
  EXPECT_EQ(PublishError(*none, "t", "m"), std::string(kFailed) + "Redis at 127.0.0.1:" + port +
                                               " refused PUBLISH: NOAUTH Authentication required.");

  // The `password` key (for ${ENV}) wins over the url's.
  auto by_key =
      Connect("url = \"redis://:not-it@127.0.0.1:" + port + "/0\"\npassword = \"s3cret-pw\"\n");
  by_key->publish("t", "by key");
  EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("by key"));

  EXPECT_THAT(Log(), AllOf(Not(HasSubstr("s3cret-pw")), Not(HasSubstr("not-it"))));
}

TEST_F(RedisDriverTest, PublishRefusedByAnAclIsReportedWithTheCount) {
  RedisServer redis;
  auto admin = redis.client();
  ASSERT_FALSE(admin
                   ->command({"ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "&*", "+@all",
                              "-publish"})
                   .is_error());
  auto c = Connect("url = \"redis://reader:reader-pw@127.0.0.1:" + std::to_string(redis.port()) +
                   "\"\n");
  const std::array<std::string_view, 2> topics{"a", "b"};
  const std::array<std::string_view, 1> messages{"m"};
  try {
    c->publish(Texts(topics), Texts(messages));
    FAIL() << "publish should fail";
  } catch (const DriverException& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith(std::string(kFailed) +
                                           "Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                                           " refused PUBLISH: NOPERM "),
                                HasSubstr("'publish'"), HasSubstr("(2 of 2 commands failed)"),
                                Not(HasSubstr("reader-pw"))));
  }
  // PING is still allowed: the connection is healthy, only PUBLISH is refused.
  EXPECT_EQ(c->health_problem(), std::nullopt);
}

TEST_F(RedisDriverTest, RenamedPublishCommandIsAnError) {
  RedisServer redis(RedisServer::Options().args({"--rename-command", "PUBLISH", ""}));
  auto c = Connect(Url(redis));
  EXPECT_THAT(PublishError(*c, "t", "m"),
              StartsWith(std::string(kFailed) + "Redis at 127.0.0.1:" +
                         std::to_string(redis.port()) + " refused PUBLISH: ERR unknown command"));
}

TEST_F(RedisDriverTest, UnixSocketAndDatabase) {
  RedisServer redis(RedisServer::Options().unix_only());
  auto sub = std::make_unique<RespClient>(redis.socket_path());
  sub->subscribe({"t"});
  auto c = Connect("url = \"unix://" + redis.socket_path().string() + "?db=3\"\n");
  c->publish("t", "over the socket");
  EXPECT_THAT(payloads(sub->messages(1, 10s)), ElementsAre("over the socket"));
  // The driver's connection selected database 3.
  RespClient admin(redis.socket_path());
  EXPECT_THAT(admin.command({"CLIENT", "LIST"}).text, HasSubstr(" db=3 "));
  EXPECT_EQ(c->health_problem(), std::nullopt);
}

TEST_F(RedisDriverTest, DatabaseOutOfRangeIsRefused) {
  RedisServer redis;
  auto c = Connect("url = \"" + redis.url(99) + "\"\n");
  EXPECT_EQ(PublishError(*c, "t", "m"), std::string(kFailed) +
                                            "Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                                            " refused SELECT 99: ERR DB index is out of range");
}

TEST_F(RedisDriverTest, HealthIsAPingOnItsOwnConnection) {
  RedisServer redis;
  auto c = Connect(Url(redis));
  EXPECT_EQ(c->health_problem(), std::nullopt);
  redis.kill();
  EXPECT_EQ(c->health_problem().value_or("healthy"),
            "cannot connect to Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                ": Connection refused");
  redis.start();
  EXPECT_EQ(c->health_problem(), std::nullopt);
}

// ---- the real `herald` binary ----

class RedisCliTest : public ::testing::Test {
 protected:
  fs::path WriteConfig(const std::string& settings) {
    return dir_.write("broadcasting.toml",
                      "default = \"redis\"\nplugin_dirs = [\"" + kPlugins.string() +
                          "\"]\n\n[connections.redis]\ndriver = \"redis\"\n" + settings);
  }
  ProcessResult Herald(const std::vector<std::string>& args) {
    RunOptions options;
    options.cwd = dir_.path();
    return RunProcess(kHerald, args, options);
  }
  // Exit 1 and exactly one stderr line "herald: connection `redis` ...: publish failed: ...".
  static void ExpectPublishFailure(const ProcessResult& r, const std::string& reason_start) {
    EXPECT_FALSE(r.timed_out) << Describe(r);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_EQ(r.out, "");
    const auto lines = split_lines(r.err);
    ASSERT_THAT(lines, SizeIs(1)) << Describe(r);
    EXPECT_THAT(lines[0], StartsWith("herald: " + std::string(kFailed) + reason_start));
  }

  TempDir dir_{"herald-redis-cli"};
};

TEST_F(RedisCliTest, PublishReachesARedisCliSubscriber) {
  RedisServer redis;
  const auto redis_cli = find_program("redis-cli");
  ASSERT_TRUE(redis_cli) << "redis-cli not found (apt install redis-tools)";
  BackgroundProcess subscriber(*redis_cli,
                               {"-p", std::to_string(redis.port()), "SUBSCRIBE", "news"});
  auto admin = redis.client();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (admin->command({"PUBSUB", "NUMSUB", "news"}).elements.at(1).integer != 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << subscriber.output();
    std::this_thread::sleep_for(10ms);
  }
  const fs::path config = WriteConfig("url = \"" + redis.url() + "\"\n");
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "news", "-m", "hello", "-m", R"({"a":1})"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err, "");
  ASSERT_TRUE(subscriber.wait_for_output("message\nnews\n{\"a\":1}\n")) << subscriber.output();
  EXPECT_EQ(subscriber.output(),
            "subscribe\nnews\n1\nmessage\nnews\nhello\nmessage\nnews\n{\"a\":1}\n");
}

TEST_F(RedisCliTest, RedisDownExitsOne) {
  const std::uint16_t port = free_tcp_port();
  const fs::path config = WriteConfig("url = \"redis://127.0.0.1:" + std::to_string(port) + "\"\n");
  ExpectPublishFailure(
      Herald({"--config", config.string(), "publish", "t", "-m", "m"}),
      "cannot connect to Redis at 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(RedisCliTest, SlowRedisTimesOutAndExitsOne) {
  SilentServer silent;
  const fs::path config = WriteConfig("url = \"redis://127.0.0.1:" + std::to_string(silent.port()) +
                                      "\"\ntimeout_ms = 300\n");
  const auto start = std::chrono::steady_clock::now();
  ExpectPublishFailure(
      Herald({"--config", config.string(), "publish", "t", "-m", "m"}),
      "Redis at 127.0.0.1:" + std::to_string(silent.port()) + " did not answer within 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(RedisCliTest, WrongPasswordExitsOneAndTheLogsNeverShowIt) {
  RedisServer redis(
      RedisServer::Options().args({"--requirepass", "right-pw"}).password("right-pw"));
  const fs::path config =
      WriteConfig("url = \"redis://:wrong-pw@127.0.0.1:" + std::to_string(redis.port()) + "/0\"\n");
  const ProcessResult quiet = Herald({"--config", config.string(), "publish", "t", "-m", "m"});
  ExpectPublishFailure(
      quiet, "Redis at 127.0.0.1:" + std::to_string(redis.port()) + " refused AUTH: WRONGPASS");
  const ProcessResult chatty =
      Herald({"--config", config.string(), "--log-level", "trace", "publish", "t", "-m", "m"});
  EXPECT_EQ(chatty.exit_code, 1) << Describe(chatty);
  for (const ProcessResult* r : {&quiet, &chatty}) {
    EXPECT_THAT(r->out + r->err, AllOf(Not(HasSubstr("wrong-pw")), Not(HasSubstr("right-pw"))))
        << Describe(*r);
  }
}

TEST_F(RedisCliTest, PublishRefusedByAnAclExitsOne) {
  RedisServer redis;
  ASSERT_FALSE(redis.client()
                   ->command({"ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "&*", "+@all",
                              "-publish"})
                   .is_error());
  const fs::path config = WriteConfig(
      "url = \"redis://reader:reader-pw@127.0.0.1:" + std::to_string(redis.port()) + "\"\n");
  ExpectPublishFailure(
      Herald({"--config", config.string(), "publish", "t", "-m", "m"}),
      "Redis at 127.0.0.1:" + std::to_string(redis.port()) + " refused PUBLISH: NOPERM");
}

TEST_F(RedisCliTest, CheckRejectsBadSettingsNamingTheKey) {
  struct Case {
    std::string settings, message;
  };
  const std::vector<Case> cases{
      {"url = \"http://:pw@127.0.0.1:6379\"\n", "`url` has the scheme `http`"},
      {"url = \"redis://:pw@127.0.0.1:99999\"\n", "`url` has a bad port (a number 1-65535)"},
      {"url = \"redis://:pw@127.0.0.1:6379/first\"\n",
       "`url` has a bad database number (a number 0 or more)"},
      {"format = \"xml\"\n", "`format` is `xml`; expected raw or laravel"},
      {"timeout_ms = 0\n", "`timeout_ms` is 0; expected 1 to 600000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.settings);
    const fs::path config = WriteConfig(c.settings);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--config", config.string(), "check"},
          std::vector<std::string>{"--config", config.string(), "publish", "t", "-m", "m"}}) {
      const ProcessResult r = Herald(args);
      EXPECT_EQ(r.exit_code, 2) << Describe(r);
      const auto lines = split_lines(r.err);
      ASSERT_THAT(lines, SizeIs(1)) << Describe(r);
      EXPECT_THAT(lines[0], AllOf(StartsWith("herald: " + config.string() + ":"),
                                  HasSubstr("connection `redis` (driver `redis`): "),
                                  HasSubstr(c.message), Not(HasSubstr(":pw@"))));
    }
  }
}

TEST_F(RedisCliTest, DriversListsTheHealthCapability) {
  const ProcessResult r = Herald({"--plugin-dir", kPlugins.string(), "drivers"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  bool found = false;
  for (const auto& line : split_lines(r.out)) {
    if (line.rfind("redis ", 0) != 0) continue;
    found = true;
    EXPECT_THAT(line, AllOf(HasSubstr(std::to_string(HERALD_ABI_MAJOR) + "." +
                                      std::to_string(HERALD_ABI_MINOR)),
                            HasSubstr("publish,health")));
  }
  EXPECT_TRUE(found) << r.out;
}

}  // namespace
}  // namespace herald
