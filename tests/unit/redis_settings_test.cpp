// The `redis` driver's settings (plugins/redis/redis_settings.hpp): URL forms, defaults, and a
// one-line ConfigError naming the key for every bad value, never quoting a password.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <herald/driver.hpp>

#include "redis/redis_settings.hpp"

namespace {

using herald::redis::Endpoint;
using herald::redis::Format;
using herald::redis::parse_url;
using herald::redis::read_settings;
using herald::redis::Settings;
using herald::sdk::Config;
using herald::sdk::ConfigError;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A connection table as the host hands it over: string entries, JSON entries and the whole
// table as JSON (with the `driver` key the host adds).
class Table {
 public:
  Table& str(std::string key, std::string value) {
    strings_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Table& json(std::string key, std::string value) {
    json_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Config config() {
    entries_.clear();
    boost::json::object whole{{"driver", "redis"}};
    entries_.push_back({{"driver", 6}, {"redis", 5}, 1});
    for (auto& [k, v] : strings_) {
      entries_.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
      whole[k] = v;
    }
    for (auto& [k, v] : json_) {
      entries_.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
      whole[k] = boost::json::parse(v);
    }
    whole_ = boost::json::serialize(whole);
    c_.struct_size = sizeof c_;
    c_.connection = {"events", 6};
    c_.json = {whole_.data(), whole_.size()};
    c_.entries = entries_.data();
    c_.entry_count = entries_.size();
    return Config(&c_);
  }

 private:
  std::vector<std::pair<std::string, std::string>> strings_, json_;
  std::vector<herald_config_entry> entries_;
  std::string whole_;
  herald_config c_{};
};

std::string config_error(Table table) {
  try {
    read_settings(table.config());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string url_error(const std::string& url) {
  try {
    parse_url(url);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- URLs ----

TEST(RedisUrl, HostPortAndDatabase) {
  const Endpoint e = parse_url("redis://cache.internal:6380/2");
  EXPECT_FALSE(e.unix_socket);
  EXPECT_EQ(e.host, "cache.internal");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 2);
  EXPECT_EQ(e.username, "");
  EXPECT_EQ(e.password, "");
  EXPECT_EQ(e.address(), "cache.internal:6380");
  EXPECT_EQ(e.masked_url(), "redis://cache.internal:6380/2");
}

TEST(RedisUrl, PortAndDatabaseDefault) {
  for (const char* url : {"redis://localhost", "redis://localhost/", "redis://localhost:6379/0"}) {
    const Endpoint e = parse_url(url);
    EXPECT_EQ(e.host, "localhost") << url;
    EXPECT_EQ(e.port, 6379) << url;
    EXPECT_EQ(e.db, 0) << url;
  }
}

TEST(RedisUrl, PasswordOnlyAndUserWithPassword) {
  const Endpoint a = parse_url("redis://:s3cret@127.0.0.1:6379/1");
  EXPECT_EQ(a.username, "");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.masked_url(), "redis://:***@127.0.0.1:6379/1");

  const Endpoint b = parse_url("redis://app:s3cret@127.0.0.1:6379");
  EXPECT_EQ(b.username, "app");
  EXPECT_EQ(b.password, "s3cret");
  EXPECT_EQ(b.masked_url(), "redis://app:***@127.0.0.1:6379/0");
}

TEST(RedisUrl, PasswordMayBePercentEncodedOrContainAnAt) {
  EXPECT_EQ(parse_url("redis://:p%40ss%3Aw%2Frd@h:1/0").password, "p@ss:w/rd");
  // The credentials end at the last '@' of the authority.
  EXPECT_EQ(parse_url("redis://:p@ss@h:1/0").password, "p@ss");
  EXPECT_EQ(parse_url("redis://:p@ss@h:1/0").host, "h");
}

// Issue 11, defect 8: a raw '/', '?' or '#' in a password once cut the authority there, so the
// password's tail was reported as a "bad port `...`". The credentials now end at the last '@'.
TEST(RedisUrl, PasswordMayContainASlashQuestionMarkOrHash) {
  const Endpoint e = parse_url("redis://user:S3cr3t/XY?Z#ZY@h:6380/2");
  EXPECT_EQ(e.username, "user");
  EXPECT_EQ(e.password, "S3cr3t/XY?Z#ZY");
  EXPECT_EQ(e.host, "h");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 2);
  EXPECT_EQ(e.masked_url(), "redis://user:***@h:6380/2");
}

// Found by fuzz/fuzz_redis_url (a harness check, not a parser crash): credentials that hold a
// whole URL. They end at the last '@'; the masked form shows the user, never the password.
TEST(RedisUrl, FuzzFoundCredentialsHoldingAUrl) {
  const Endpoint e = parse_url("redis://s/s hpP:redis://s/s hpP@1");
  EXPECT_EQ(e.username, "s/s hpP");
  EXPECT_EQ(e.password, "redis://s/s hpP");
  EXPECT_EQ(e.host, "1");
  EXPECT_EQ(e.masked_url(), "redis://s/s hpP:***@1:6379/0");
}

TEST(RedisUrl, Ipv6Literal) {
  const Endpoint e = parse_url("redis://[::1]:6390/3");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 6390);
  EXPECT_EQ(e.db, 3);
  EXPECT_EQ(e.address(), "[::1]:6390");
}

TEST(RedisUrl, UnixSocketWithCredentialsAndDatabase) {
  const Endpoint e = parse_url("unix://:pw@/run/redis/redis.sock?db=5");
  EXPECT_TRUE(e.unix_socket);
  EXPECT_EQ(e.path, "/run/redis/redis.sock");
  EXPECT_EQ(e.password, "pw");
  EXPECT_EQ(e.db, 5);
  EXPECT_EQ(e.address(), "unix:/run/redis/redis.sock");
  EXPECT_EQ(e.masked_url(), "unix://:***@/run/redis/redis.sock?db=5");

  const Endpoint plain = parse_url("unix:///tmp/redis.sock");
  EXPECT_EQ(plain.path, "/tmp/redis.sock");
  EXPECT_EQ(plain.db, 0);
  EXPECT_EQ(plain.masked_url(), "unix:///tmp/redis.sock");
}

TEST(RedisUrl, BadSchemeNamesTheKey) {
  EXPECT_THAT(url_error("http://127.0.0.1:6379"),
              StartsWith("`url` has the scheme `http`; expected redis://"));
  EXPECT_THAT(url_error("127.0.0.1:6379"), StartsWith("`url` has no scheme"));
  EXPECT_THAT(url_error("rediss://h:6380"),
              StartsWith("`url`: TLS (rediss://) is not supported by this driver"));
}

TEST(RedisUrl, BadPort) {
  for (const char* url : {"redis://h:0", "redis://h:65536", "redis://h:http", "redis://h:-1",
                          "redis://h:99999999999999999999"})
    EXPECT_THAT(url_error(url), StartsWith("`url` has a bad port (a number 1-65535)")) << url;
  EXPECT_THAT(url_error("redis://h:"), StartsWith("`url` has an empty port"));
}

TEST(RedisUrl, BadDatabase) {
  for (const char* url : {"redis://h:1/x", "redis://h:1/-1", "redis://h:1/1/2",
                          "redis://h:1/99999999999", "unix:///s?db=two"})
    EXPECT_THAT(url_error(url), StartsWith("`url` has a bad database number (a number 0 or more)"))
        << url;
}

TEST(RedisUrl, OtherMistakes) {
  EXPECT_THAT(url_error("redis://:pw@:6379"), StartsWith("`url` has no host"));
  EXPECT_THAT(url_error("redis://"), StartsWith("`url` has no host"));
  EXPECT_THAT(url_error("redis://[::1:6379"), StartsWith("`url` has an unclosed `[`"));
  EXPECT_THAT(url_error("redis://h:1?db=2"), StartsWith("`url` accepts no query"));
  EXPECT_THAT(url_error("unix://relative/redis.sock"),
              StartsWith("`url` needs an absolute socket path"));
  EXPECT_THAT(url_error("unix:///s?timeout=1"), StartsWith("`url` accepts only `?db=N`"));
  EXPECT_THAT(url_error("redis://:%zz@h"), StartsWith("`url` has a bad %-escape"));
}

TEST(RedisUrl, ErrorsAreOneLineAndNeverShowThePassword) {
  for (const char* url :
       {"redis://:hunter2@h:0/0", "redis://u:hunter2@h:1/db", "redis://:hunter2@:1",
        "rediss://:hunter2@h", "http://:hunter2@h", "redis://:hunter2%zz@h",
        // a password with '/' once showed as the bad port or database
        "redis://u:pa/hunter2@h:0", "redis://u:hunter2/x@h:70000", "redis://u:p/hunter2@h:1/x",
        "redis://u:p:hunter2", "redis://u:hunter2/1", "redis://hunter2:6379x",
        "u:hunter2@h://x", "redis://u:hunter2@[::1", "unix://u:pa/hunter2@/s?db=x",
        "unix://u:hunter2@/s?db=hunter2", "redis://h:1/hunter2"}) {
    const std::string error = url_error(url);
    EXPECT_THAT(error, StartsWith("`url`")) << url;
    EXPECT_THAT(error, Not(HasSubstr("hunter2"))) << url;
    EXPECT_THAT(error, Not(HasSubstr("\n"))) << url;
  }
}

// ---- settings ----

TEST(RedisSettings, Defaults) {
  const Settings s = read_settings(Table().config());
  EXPECT_EQ(s.endpoint.host, "127.0.0.1");
  EXPECT_EQ(s.endpoint.port, 6379);
  EXPECT_EQ(s.endpoint.db, 0);
  EXPECT_EQ(s.format, Format::raw);
  EXPECT_EQ(s.prefix, "");
  EXPECT_EQ(s.event, "message");
  EXPECT_EQ(s.connect_timeout_ms, 2000);
  EXPECT_EQ(s.timeout_ms, 5000);
  EXPECT_EQ(s.pool_size, 4);
}

TEST(RedisSettings, EverySettingIsRead) {
  const Settings s = read_settings(Table()
                                       .str("url", "redis://10.0.0.5:7000/4")
                                       .str("format", "laravel")
                                       .str("prefix", "laravel_database_")
                                       .str("event", "App\\Events\\Ping")
                                       .json("connect_timeout_ms", "250")
                                       .json("timeout_ms", "750")
                                       .json("pool_size", "2")
                                       .config());
  EXPECT_EQ(s.endpoint.host, "10.0.0.5");
  EXPECT_EQ(s.endpoint.port, 7000);
  EXPECT_EQ(s.endpoint.db, 4);
  EXPECT_EQ(s.format, Format::laravel);
  EXPECT_EQ(s.prefix, "laravel_database_");
  EXPECT_EQ(s.event, "App\\Events\\Ping");
  EXPECT_EQ(s.connect_timeout_ms, 250);
  EXPECT_EQ(s.timeout_ms, 750);
  EXPECT_EQ(s.pool_size, 2);
}

TEST(RedisSettings, PasswordAndUsernameKeysWinOverTheUrl) {
  const Settings s = read_settings(Table()
                                       .str("url", "redis://old:old@127.0.0.1:6379")
                                       .str("username", "app")
                                       .str("password", "from-env")
                                       .config());
  EXPECT_EQ(s.endpoint.username, "app");
  EXPECT_EQ(s.endpoint.password, "from-env");
  EXPECT_EQ(s.endpoint.masked_url(), "redis://app:***@127.0.0.1:6379/0");
}

TEST(RedisSettings, UnknownFormatNamesTheKey) {
  EXPECT_EQ(config_error(Table().str("format", "xml")),
            "`format` is `xml`; expected raw or laravel");
}

TEST(RedisSettings, BadValuesNameTheirKey) {
  EXPECT_EQ(config_error(Table().json("timeout_ms", "0")),
            "`timeout_ms` is 0; expected 1 to 600000");
  EXPECT_EQ(config_error(Table().json("connect_timeout_ms", "-5")),
            "`connect_timeout_ms` is -5; expected 1 to 600000");
  EXPECT_EQ(config_error(Table().json("pool_size", "65")), "`pool_size` is 65; expected 1 to 64");
  EXPECT_EQ(config_error(Table().str("pool_size", "4")), "`pool_size` must be an integer");
  EXPECT_EQ(config_error(Table().json("url", "6379")), "`url` must be a string");
  EXPECT_EQ(config_error(Table().json("format", "true")), "`format` must be a string");
  EXPECT_EQ(config_error(Table().str("event", "")), "`event` must not be empty");
  EXPECT_EQ(config_error(Table().str("username", "app")),
            "`username` needs a password (in the url or `password`)");
  EXPECT_THAT(config_error(Table().str("url", "redis://h:70000")),
              StartsWith("`url` has a bad port (a number 1-65535)"));
}

TEST(RedisSettings, UnknownKeysAreRefusedSoTyposDoNotFallBackToDefaults) {
  EXPECT_EQ(config_error(Table().str("formt", "laravel")),
            "unknown setting `formt`; expected url, username, password, format, prefix, event, "
            "connect_timeout_ms, timeout_ms or pool_size");
}

}  // namespace
