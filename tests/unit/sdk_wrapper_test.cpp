// The header-only SDK wrapper (driver.hpp) called through its C thunks, in-process: exceptions
// become statuses plus messages, guards and validators are detected, config accessors type-check.
#include <gtest/gtest.h>

#include <herald/driver.hpp>

#include <string>
#include <vector>

namespace {

using herald::sdk::Config;
using herald::sdk::Host;
using herald::sdk::Texts;

std::vector<std::string> g_published;

class Plain : public herald::sdk::Broadcast {
 public:
  Plain(const Host&, const Config& config) {
    if (config.string_or("mode", "") == "config-error")
      throw herald::sdk::ConfigError("`url` is required");
    if (config.string_or("mode", "") == "runtime-error") throw std::runtime_error("unreachable");
    if (config.string_or("mode", "") == "odd") throw 42;
  }
  void publish(Texts topics, Texts messages) override {
    for (auto m : messages) {
      if (m == "fail") throw herald::sdk::InvalidArgument("bad message");
      g_published.push_back(std::string(topics[0]) + ":" + std::string(m));
    }
  }
};

class Guarded : public herald::sdk::Broadcast, public herald::sdk::Guard {
 public:
  Guarded(const Host&, const Config&) {}
  static void validate(const Config& config) {
    if (!config.has("secret")) throw herald::sdk::ConfigError("`secret` is required");
  }
  void publish(Texts, Texts) override {}
  void authorize(const herald::sdk::Request& request,
                 const herald::sdk::AuthResult& result) override {
    result.success(request.header("x-token").value_or("") == "ok");
  }
};

struct Cfg {
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, std::string>> json;
  std::vector<herald_config_entry> entries;
  herald_config c{};
  const herald_config* get() {
    entries.clear();
    for (auto& [k, v] : strings) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 1});
    for (auto& [k, v] : json) entries.push_back({{k.data(), k.size()}, {v.data(), v.size()}, 0});
    c.struct_size = sizeof c;
    c.connection = {"conn", 4};
    c.entries = entries.data();
    c.entry_count = entries.size();
    return &c;
  }
};

struct Err {
  char text[64] = "untouched";
  herald_error e{sizeof(herald_error), text, sizeof text};
};

constexpr herald_driver_descriptor kPlain =
    herald::sdk::detail::make_descriptor<Plain>("plain", "1.0.0", "test");
constexpr herald_driver_descriptor kGuarded =
    herald::sdk::detail::make_descriptor<Guarded>("guarded", "1.0.0", nullptr);

TEST(SdkWrapper, DescriptorDeclaresCapabilities) {
  EXPECT_EQ(kPlain.struct_size, sizeof(herald_driver_descriptor));
  EXPECT_EQ(kPlain.authorize, nullptr);
  EXPECT_EQ(kPlain.validate, nullptr);
  EXPECT_NE(kGuarded.authorize, nullptr);
  EXPECT_NE(kGuarded.validate, nullptr);
  EXPECT_GE(kPlain.struct_size, HERALD_DESCRIPTOR_MIN_SIZE);
}

TEST(SdkWrapper, CreatePublishDestroyRoundTrip) {
  g_published.clear();
  Cfg cfg;
  Err err;
  void* instance = nullptr;
  ASSERT_EQ(kPlain.create(nullptr, cfg.get(), &instance, &err.e), HERALD_OK);
  herald_str topics[] = {{"order.1", 7}};
  herald_str messages[] = {{"a", 1}, {"b", 1}};
  EXPECT_EQ(kPlain.publish(instance, topics, 1, messages, 2, &err.e), HERALD_OK);
  EXPECT_EQ(g_published, (std::vector<std::string>{"order.1:a", "order.1:b"}));
  kPlain.destroy(instance);
}

TEST(SdkWrapper, ExceptionsBecomeStatusesWithMessages) {
  struct Case {
    const char* mode;
    int status;
    const char* message;
  };
  for (const Case& c : {Case{"config-error", HERALD_E_CONFIG, "`url` is required"},
                        Case{"runtime-error", HERALD_E_FAILED, "unreachable"},
                        Case{"odd", HERALD_E_EXCEPTION, "unknown exception in driver"}}) {
    Cfg cfg;
    cfg.strings = {{"mode", c.mode}};
    Err err;
    void* instance = nullptr;
    EXPECT_EQ(kPlain.create(nullptr, cfg.get(), &instance, &err.e), c.status) << c.mode;
    EXPECT_STREQ(err.text, c.message);
  }
}

TEST(SdkWrapper, PublishFailureAndLargeLists) {
  Cfg cfg;
  Err err;
  void* instance = nullptr;
  ASSERT_EQ(kPlain.create(nullptr, cfg.get(), &instance, &err.e), HERALD_OK);
  herald_str topic = {"t", 1};
  herald_str bad = {"fail", 4};
  EXPECT_EQ(kPlain.publish(instance, &topic, 1, &bad, 1, &err.e), HERALD_E_INVALID_ARGUMENT);
  EXPECT_STREQ(err.text, "bad message");
  g_published.clear();
  std::vector<herald_str> many(100, herald_str{"m", 1});  // beyond the on-stack buffer
  EXPECT_EQ(kPlain.publish(instance, &topic, 1, many.data(), many.size(), &err.e), HERALD_OK);
  EXPECT_EQ(g_published.size(), 100u);
  kPlain.destroy(instance);
}

TEST(SdkWrapper, ValidateReportsConfigErrors) {
  Cfg cfg;
  Err err;
  EXPECT_EQ(kGuarded.validate(cfg.get(), &err.e), HERALD_E_CONFIG);
  EXPECT_STREQ(err.text, "`secret` is required");
  cfg.strings = {{"secret", "s"}};
  EXPECT_EQ(kGuarded.validate(cfg.get(), &err.e), HERALD_OK);
}

TEST(SdkWrapper, ErrorMessagesAreTruncatedToTheHostBuffer) {
  char small[6];
  herald_error e{sizeof(herald_error), small, sizeof small};
  herald_error_set(&e, "a long message");
  EXPECT_STREQ(small, "a lon");
  herald_error_set(nullptr, "ignored");  // must not crash
}

TEST(SdkWrapper, ConfigAccessorsCheckTypes) {
  Cfg cfg;
  cfg.strings = {{"name", "x"}};
  cfg.json = {{"port", "6001"}, {"neg", "-5"}, {"on", "true"}, {"list", "[1,2]"}};
  Config config(cfg.get());
  EXPECT_EQ(config.string("name"), "x");
  EXPECT_EQ(config.integer("port"), 6001);
  EXPECT_EQ(config.integer("neg"), -5);
  EXPECT_EQ(config.boolean("on"), true);
  EXPECT_FALSE(config.string("missing").has_value());
  EXPECT_EQ(config.string_or("missing", "dflt"), "dflt");
  EXPECT_THROW(config.string("port"), herald::sdk::ConfigError);
  EXPECT_THROW(config.integer("name"), herald::sdk::ConfigError);
  EXPECT_THROW(config.integer("list"), herald::sdk::ConfigError);
  EXPECT_THROW(config.boolean("port"), herald::sdk::ConfigError);
  try {
    config.integer("name");
  } catch (const herald::sdk::ConfigError& e) {
    EXPECT_STREQ(e.what(), "`name` must be an integer");
  }
}

TEST(SdkWrapper, GuardReadsHeadersCaseInsensitively) {
  struct Builder {
    int success = -1;
  } b;
  herald_auth_result result{};
  result.struct_size = sizeof result;
  result.ctx = &b;
  result.set_success = [](void* ctx, int ok) { static_cast<Builder*>(ctx)->success = ok; };
  herald_header header{{"X-Token", 7}, {"ok", 2}};
  herald_request request{};
  request.struct_size = sizeof request;
  request.headers = &header;
  request.header_count = 1;
  Cfg cfg;
  Err err;
  void* instance = nullptr;
  ASSERT_EQ(kGuarded.create(nullptr, cfg.get(), &instance, &err.e), HERALD_OK);
  EXPECT_EQ(kGuarded.authorize(instance, &request, &result, &err.e), HERALD_OK);
  EXPECT_EQ(b.success, 1);
  kGuarded.destroy(instance);
}

}  // namespace
