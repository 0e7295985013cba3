// Runs the real `herald serve` for a test: writes the config into a temp directory, starts the
// binary on a free loopback port with the fixture plugins on its search path, and waits until
// it listens. Needs HERALD_TEST_BINARY and HERALD_TEST_FIXTURE_DIR (the test targets define them).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "background_process.hpp"
#include "http_test.hpp"
#include "test_files.hpp"

namespace herald::testing_support {

class HeraldServer {
 public:
  struct Options {
    std::vector<std::pair<std::string, std::string>> env;
    std::vector<std::string> extra_args;  // before `serve`, e.g. {"--log-level", "debug"}
    bool wait = true;                     // wait until it listens
  };

  // `toml` is the whole config except the listen address, which the server gets via --listen.
  HeraldServer(const TempDir& dir, const std::string& toml, Options options)
      : config_(write_file(dir / "broadcasting.toml", toml)), port_(free_tcp_port()) {
    std::vector<std::string> args = {"--config", config_.string(), "--plugin-dir",
                                     HERALD_TEST_FIXTURE_DIR};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    args.insert(args.end(), {"serve", "--listen", "127.0.0.1:" + std::to_string(port_)});
    process_ = std::make_unique<BackgroundProcess>(
        HERALD_TEST_BINARY, args,
        BackgroundProcess::Options{std::move(options.env), dir.path(), dir / "serve.log"});
    if (options.wait) process_->wait_for_port(port_, std::chrono::seconds(60));
  }
  HeraldServer(const TempDir& dir, const std::string& toml) : HeraldServer(dir, toml, Options{}) {}

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  BackgroundProcess& process() noexcept { return *process_; }
  std::string log() const { return process_->output(); }

  HttpReply get(const std::string& target, const Headers& headers = {}) const {
    return http_request(port_, "GET", target, {}, headers);
  }
  HttpReply post(const std::string& target, const std::string& body,
                 const Headers& headers = {}) const {
    return http_request(port_, "POST", target, body, headers);
  }

 private:
  std::filesystem::path config_;
  std::uint16_t port_;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace herald::testing_support
