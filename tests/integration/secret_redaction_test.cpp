// Issue 11, defect 8: secrets never appear in any output. Every case below is a config (or a
// command line) that holds the recognisable secret `S3cr3t-XYZZY` in a secret-bearing place and
// fails somewhere: config checks, driver validation, startup, or at run time against a backend
// that is not there. Each case runs `herald check`, `herald publish` and (where it fails at
// startup) `herald serve`, and ALL of stdout and stderr is searched for the secret, or a tell-
// tale piece of it: zero hits. The case names are the table in the README.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli_test_support.hpp"
#include "test_files.hpp"

namespace herald::cli_test {
namespace {

namespace fs = std::filesystem;
using testing_support::TempDir;
using testing_support::write_file;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kPluginDir = HERALD_TEST_PLUGIN_DIR;

// The secret, and pieces that would show it was leaked in part (cut at '/', '-', ':' or '@').
constexpr const char* kSecret = "S3cr3t-XYZZY";
const std::vector<std::string> kTells = {"S3cr3t", "XYZZY", "S3cr3t%2DXYZZY"};

enum Command : unsigned { kCheck = 1, kPublish = 2, kServe = 4 };

struct Case {
  std::string name;    // for the README table
  std::string config;  // broadcasting.toml; `default` names the connection publish uses
  unsigned commands = kCheck | kPublish | kServe;
  std::vector<std::pair<std::string, std::string>> env = {};
  std::string env_file = {};                 // written to herald.env (mode 600) when not empty
  std::vector<std::string> publish_args = {};  // replaces the default publish arguments
};

// A redis URL that refuses connections at once (port 1 on loopback).
const std::string kNoRedis = "127.0.0.1:1";

std::vector<Case> cases() {
  const std::string s = kSecret;
  return {
      // ---- ${VAR} expansion ----
      {"unterminated ${ after a secret", "default = \"r\"\n[connections.r]\ndriver = \"redis\"\n"
                                         "url = \"redis://:" + s + "${@" + kNoRedis + "\"\n"},
      {"unterminated ${ in a default", "[connections.c]\ndriver = \"centrifugo\"\n"
                                       "url = \"http://127.0.0.1:1\"\napi_key = \"${KEY:-" + s + "\"\n"},
      {"a secret where a ${NAME} belongs", "[connections.c]\ndriver = \"centrifugo\"\n"
                                           "url = \"http://127.0.0.1:1\"\napi_key = \"${" + s + "}\"\n"},
      {"a secret in a ${VAR:-default} with a bad name",
       "[connections.c]\ndriver = \"centrifugo\"\nurl = \"http://127.0.0.1:1\"\n"
       "api_key = \"${1X:-" + s + "}\"\n"},
      {"an unset variable next to a secret", "[connections.c]\ndriver = \"centrifugo\"\n"
                                             "url = \"http://127.0.0.1:1\"\n"
                                             "api_key = \"" + s + "${UNSET_VAR}\"\n"},
      {"env value: redis password from the environment, bad port",
       "default = \"r\"\n[connections.r]\ndriver = \"redis\"\n"
       "url = \"redis://:${REDIS_PASSWORD}@127.0.0.1:notaport\"\n",
       kCheck | kPublish | kServe, {{"REDIS_PASSWORD", s}}},
      {"env_file value: a line without `=` holding the secret",
       "env_file = \"herald.env\"\n", kCheck | kPublish | kServe, {}, s + "\n"},
      {"env_file value: the password of an unreachable redis",
       "env_file = \"herald.env\"\ndefault = \"r\"\n[connections.r]\ndriver = \"redis\"\n"
       "url = \"redis://:${REDIS_PASSWORD}@" + kNoRedis + "\"\n",
       kCheck | kPublish, {}, "REDIS_PASSWORD=" + s + "\n"},
      {"TOML syntax error inside a secret string",
       "[connections.c]\ndriver = \"centrifugo\"\napi_key = \"" + s + "\n"},
      {"TOML syntax error: a bare secret", "[server]\napi_key = " + s + "\n"},
      // ---- redis and bus URLs ----
      {"redis url: password with '/' (was the bad-port error)",
       "default = \"r\"\n[connections.r]\ndriver = \"redis\"\n"
       "url = \"redis://user:S3cr3t/XYZZY@127.0.0.1:x\"\n"},
      {"redis url: password with '/' before a bad db",
       "default = \"r\"\n[connections.r]\ndriver = \"redis\"\n"
       "url = \"redis://user:pw/S3cr3t-XYZZY@127.0.0.1:6379/x\"\n"},
      {"redis url: bad port after user:password@", "default = \"r\"\n[connections.r]\n"
                                                   "driver = \"redis\"\nurl = \"redis://u:" + s +
                                                   "@127.0.0.1:0\"\n"},
      {"redis url: bad %-escape in the password", "default = \"r\"\n[connections.r]\n"
                                                  "driver = \"redis\"\nurl = \"redis://u:%zz" + s +
                                                  "@127.0.0.1\"\n"},
      {"redis url: unreachable server (publish fails)",
       "default = \"r\"\n[connections.r]\ndriver = \"redis\"\nurl = \"redis://u:" + s + "@" +
           kNoRedis + "/0\"\n",
       kCheck | kPublish},
      {"redis `password` key: unreachable server",
       "default = \"r\"\n[connections.r]\ndriver = \"redis\"\nurl = \"redis://" + kNoRedis +
           "\"\npassword = \"" + s + "\"\n",
       kCheck | kPublish},
      {"redis `password` key of the wrong type", "default = \"r\"\n[connections.r]\n"
                                                 "driver = \"redis\"\npassword = [\"" + s + "\"]\n"},
      {"websocket bus url: password with '/' and a bad port",
       "default = \"w\"\n[connections.w]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:0\"\n"
       "app_id = \"1\"\nkey = \"k\"\nsecret = \"another-secret-000\"\n"
       "bus = \"redis://u:S3cr3t/XYZZY@127.0.0.1:x\"\n"},
      {"websocket bus url: unknown scheme with credentials",
       "default = \"w\"\n[connections.w]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:0\"\n"
       "app_id = \"1\"\nkey = \"k\"\nsecret = \"another-secret-000\"\n"
       "bus = \"u:" + s + "@h://x\"\n"},
      // ---- driver secrets ----
      {"centrifugo api_key: unreachable server",
       "default = \"c\"\n[connections.c]\ndriver = \"centrifugo\"\nurl = \"http://127.0.0.1:1\"\n"
       "api_key = \"" + s + "\"\nretries = 0\n",
       kCheck | kPublish},
      {"centrifugo api_key with a bad url", "default = \"c\"\n[connections.c]\n"
                                            "driver = \"centrifugo\"\nurl = \"ftp://h\"\n"
                                            "api_key = \"" + s + "\"\n"},
      {"centrifugo api_key with a control character", "default = \"c\"\n[connections.c]\n"
                                                      "driver = \"centrifugo\"\n"
                                                      "url = \"http://127.0.0.1:1\"\n"
                                                      "api_key = \"" + s + "\\n\"\n"},
      {"centrifugo url with credentials", "default = \"c\"\n[connections.c]\n"
                                          "driver = \"centrifugo\"\n"
                                          "url = \"http://u:" + s + "@127.0.0.1:1\"\n"
                                          "api_key = \"k\"\nretries = 0\n",
       kCheck | kPublish},
      {"pusher secret: unreachable server",
       "default = \"p\"\n[connections.p]\ndriver = \"pusher\"\napp_id = \"1\"\nkey = \"k\"\n"
       "secret = \"" + s + "\"\nhost = \"127.0.0.1\"\nport = 1\nscheme = \"http\"\n",
       kCheck | kPublish},
      {"pusher secret with a missing app_id", "default = \"p\"\n[connections.p]\n"
                                              "driver = \"pusher\"\nkey = \"k\"\nsecret = \"" + s +
                                              "\"\n"},
      {"pusher secret of the wrong type", "default = \"p\"\n[connections.p]\ndriver = \"pusher\"\n"
                                          "app_id = \"1\"\nkey = \"k\"\nsecret = [\"" + s + "\"]\n"},
      {"websocket secret with a bad listen address",
       "default = \"w\"\n[connections.w]\ndriver = \"websocket\"\nlisten = \"nowhere\"\n"
       "app_id = \"1\"\nkey = \"k\"\nsecret = \"" + s + "\"\n"},
      {"websocket secret with a bad setting", "default = \"w\"\n[connections.w]\n"
                                              "driver = \"websocket\"\nlisten = \"127.0.0.1:0\"\n"
                                              "app_id = \"1\"\nkey = \"k\"\nsecret = \"" + s +
                                              "\"\nmax_connections = -1\n"},
      {"websocket webhook url with credentials",
       "default = \"w\"\n[connections.w]\ndriver = \"websocket\"\nlisten = \"127.0.0.1:0\"\n"
       "app_id = \"1\"\nkey = \"k\"\nsecret = \"another-secret-000\"\n"
       "webhooks = [\"ftp://u:" + s + "@127.0.0.1:1/hook\"]\n"},
      // ---- authorize rules ----
      {"jwt secret too short", "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\n"
                               "pattern = \"t\"\nrule = { jwt = { secret = \"" + s + "\" } }\n"},
      {"jwt secret with a bad algorithm",
       "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\npattern = \"t\"\n"
       "rule = { jwt = { secret = \"" + s + "-0123456789abcdef0123456789\", algorithms = [\"none\"] } }\n"},
      {"jwt secret of the wrong type", "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\n"
                                       "pattern = \"t\"\nrule = { jwt = { secret = [\"" + s +
                                       "\"] } }\n"},
      {"header rule secret with an unknown key", "[authorize]\npath = \"/auth\"\n"
                                                 "[[authorize.topics]]\npattern = \"t\"\n"
                                                 "rule = { header = \"X-Key\", equals = \"" + s +
                                                 "\", extra = 1 }\n"},
      {"webhook rule url with credentials and a bad scheme",
       "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\npattern = \"t\"\n"
       "rule = { webhook = \"ftp://u:" + s + "@127.0.0.1:1/auth\" }\n"},
      {"webhook rule url with credentials and a bad port",
       "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\npattern = \"t\"\n"
       "rule = { webhook = \"http://u:" + s + "@127.0.0.1:x/auth\" }\n"},
      {"webhook rule url with credentials and a bad host",
       "[authorize]\npath = \"/auth\"\n[[authorize.topics]]\npattern = \"t\"\n"
       "rule = { webhook = \"http://u:" + s + "@[::1/auth\" }\n"},
      // ---- the API key ----
      {"server api_key of the wrong type", "[server]\napi_key = [\"" + s + "\", 5]\n"},
      {"server api_key with a bad neighbour setting", "[server]\napi_key = \"" + s +
                                                      "\"\nlisten = \"nowhere\"\n"},
      {"publish --api-key to a server that is not there", "",
       kPublish, {}, {}, {"publish", "--server", "http://127.0.0.1:1", "--api-key", s, "t", "-m", "m"}},
      {"HERALD_API_KEY to a server that is not there", "", kPublish,
       {{"HERALD_API_KEY", s}, {"HERALD_SERVER", "http://127.0.0.1:1"}}, {},
       {"publish", "t", "-m", "m"}},
      {"publish --server URL with credentials", "", kPublish, {}, {},
       {"publish", "--server", "http://u:" + s + "@127.0.0.1:1", "t", "-m", "m"}},
      {"publish --server URL with credentials and a bad port", "", kPublish, {}, {},
       {"publish", "--server", "http://u:" + s + "@127.0.0.1:x", "t", "-m", "m"}},
  };
}

TEST(SecretRedaction, NoFailingCaseShowsTheSecretInAnyOutput) {
  std::size_t runs = 0;
  for (const Case& c : cases()) {
    TempDir dir;
    const fs::path config = dir.path() / "broadcasting.toml";
    write_file(config, c.config);
    if (!c.env_file.empty()) {
      write_file(dir.path() / "herald.env", c.env_file);
      fs::permissions(dir.path() / "herald.env", fs::perms::owner_read | fs::perms::owner_write);
    }
    RunOptions options;
    options.env = c.env;
    options.cwd = dir.path();
    options.timeout = std::chrono::milliseconds(15000);
    const std::vector<std::string> common = {"--config", config.string(), "--plugin-dir",
                                             kPluginDir.string()};
    std::vector<std::pair<std::string, std::vector<std::string>>> runs_of_case;
    if (c.commands & kCheck) runs_of_case.push_back({"check", {"check"}});
    if (c.commands & kPublish)
      runs_of_case.push_back({"publish", c.publish_args.empty()
                                             ? std::vector<std::string>{"publish", "t", "-m", "m"}
                                             : c.publish_args});
    if (c.commands & kServe) runs_of_case.push_back({"serve", {"serve"}});
    bool failed_somewhere = false;  // each case must fail (that is the path under test)
    for (const auto& [what, args] : runs_of_case) {
      std::vector<std::string> argv = common;
      argv.insert(argv.end(), args.begin(), args.end());
      const ProcessResult r = RunProcess(kHerald, argv, options);
      ++runs;
      const std::string all = r.out + r.err;
      EXPECT_FALSE(r.timed_out) << c.name << " / " << what << ": did not fail in time\n" << all;
      if (r.exit_code != 0) {
        failed_somewhere = true;
        EXPECT_FALSE(r.err.empty()) << c.name << " / " << what << ": failed without a word";
      }
      for (const std::string& tell : kTells)
        EXPECT_EQ(all.find(tell), std::string::npos)
            << c.name << " / " << what << ": the output shows `" << tell << "`:\n" << all;
    }
    EXPECT_TRUE(failed_somewhere) << c.name << ": no command failed, the case tests nothing";
  }
  EXPECT_GE(runs, 80u);
}

}  // namespace
}  // namespace herald::cli_test
