// Long-running child processes for end-to-end tests (herald serve, redis-server, node peers):
// start with a clean environment, log both streams to a file, wait for a TCP port, stop with
// a signal. The process is killed when the object goes away, so no test leaks a server.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "test_files.hpp"

namespace herald::testing_support {

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
inline std::uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category(), "bind");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool tcp_port_open(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return open;
}

// The absolute path of `name` found on PATH, or nullopt.
inline std::optional<std::filesystem::path> find_program(const std::string& name) {
  const char* path = ::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

class BackgroundProcess {
 public:
  struct Options {
    // The whole environment besides PATH, HOME and the sanitizer options (copied from this
    // process).
    std::vector<std::pair<std::string, std::string>> env;
    std::filesystem::path cwd;  // empty = this process's cwd
    std::filesystem::path log;  // stdout+stderr go here; empty = a file in /tmp
  };

  BackgroundProcess(const std::filesystem::path& program, const std::vector<std::string>& args,
                    Options options = {})
      : log_(options.log) {
    if (log_.empty()) {
      char name[] = "/tmp/herald-process-XXXXXX";
      const int fd = ::mkstemp(name);
      if (fd < 0) throw std::system_error(errno, std::generic_category(), "mkstemp");
      ::close(fd);
      log_ = name;
      owns_log_ = true;
    }
    std::vector<std::string> argv_strings{program.string()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings;
    // The sanitizers' options too, so a child under ASan/TSan fails the way the test run asks.
    for (const char* name : {"PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS",
                             "LSAN_OPTIONS"})
      if (const char* value = ::getenv(name)) env_strings.push_back(std::string(name) + "=" + value);
    for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
    std::vector<char*> argv, envp;
    for (auto& s : argv_strings) argv.push_back(s.data());
    for (auto& s : env_strings) envp.push_back(s.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    const std::string cwd = options.cwd.string();
    const std::string log = log_.string();

    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
      // Only async-signal-safe calls from here on.
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
        ::_exit(126);
      ::setpgid(0, 0);  // its own group, so stop() reaches its children too
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      static const char kMessage[] = "BackgroundProcess: execve failed\n";
      (void)!::write(2, kMessage, sizeof kMessage - 1);
      ::_exit(127);
    }
  }
  ~BackgroundProcess() {
    if (running()) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
    }
    reap(std::chrono::seconds(5));
    if (owns_log_) {
      std::error_code ignored;
      std::filesystem::remove(log_, ignored);
    }
  }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  std::string output() const { return read_file(log_); }
  const std::filesystem::path& log_path() const noexcept { return log_; }

  bool running() {
    if (exit_status_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      return false;
    }
    return true;
  }

  // Waits until 127.0.0.1:port accepts connections; throws (with the output so far) when the
  // process exits first or the time runs out.
  void wait_for_port(std::uint16_t port,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!tcp_port_open(port)) {
      if (!running())
        throw std::runtime_error("process exited before listening on " + std::to_string(port) +
                                 ":\n" + output());
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("nothing listens on " + std::to_string(port) + " after " +
                                 std::to_string(timeout.count()) + " ms:\n" + output());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Waits until the output contains `text`; false on timeout or exit.
  bool wait_for_output(const std::string& text,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!running()) return output().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  void signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }

  // Waits for the exit; returns the exit code (128+signal when killed by one), or nullopt when
  // it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (!reap(timeout)) return std::nullopt;
    if (WIFEXITED(*exit_status_)) return WEXITSTATUS(*exit_status_);
    return 128 + WTERMSIG(*exit_status_);
  }

  // SIGTERM, then SIGKILL when it has not exited within `grace`. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    signal(SIGTERM);
    if (auto code = wait(grace)) return *code;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    return wait(std::chrono::seconds(5)).value_or(-1);
  }

 private:
  bool reap(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_status_) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exit_status_ = status;
        break;
      }
      if (done < 0 && errno != EINTR) return false;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::filesystem::path log_;
  bool owns_log_ = false;
};

// The resident set size of a process in kB (VmRSS of /proc/<pid>/status), -1 when unknown.
inline long process_rss_kb(int pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kb = std::strtol(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

}  // namespace herald::testing_support
