// `${VAR}` expansion (config/env_expand.hpp), with an injected environment.
#include "config/env_expand.hpp"

#include <cstdlib>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/errors.hpp"

namespace herald {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// The message of the ConfigException `expand_env` throws, or "" when it does not throw.
std::string error_of(std::string_view text, const EnvLookup& env) {
  try {
    expand_env(text, env);
  } catch (const ConfigException& e) {
    return e.what();
  }
  return "";
}

TEST(EnvExpandTest, TextWithoutVariablesIsUnchanged) {
  EXPECT_EQ(expand_env("plain text", fake_env({})), "plain text");
  EXPECT_EQ(expand_env("", fake_env({})), "");
}

TEST(EnvExpandTest, ReplacesSetVariables) {
  auto env = fake_env({{"HOST", "example.org"}, {"PORT", "6001"}});
  EXPECT_EQ(expand_env("${HOST}", env), "example.org");
  EXPECT_EQ(expand_env("ws://${HOST}:${PORT}/ws", env), "ws://example.org:6001/ws");
}

TEST(EnvExpandTest, UnsetVariableIsAnErrorNamingItAndTheDefaultSyntax) {
  EXPECT_EQ(error_of("x ${HERALD_JWT_SECRET} y", fake_env({})),
            "environment variable `HERALD_JWT_SECRET` is not set (write "
            "${HERALD_JWT_SECRET:-default} to give a default)");
}

TEST(EnvExpandTest, ErrorNeverContainsAVariablesValue) {
  auto env = fake_env({{"SECRET", "hunter2"}});
  const std::string message = error_of("${SECRET}${MISSING}", env);
  EXPECT_THAT(message, HasSubstr("`MISSING` is not set"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
}

TEST(EnvExpandTest, SetButEmptyVariableWithoutDefaultExpandsToEmpty) {
  EXPECT_EQ(expand_env("[${EMPTY}]", fake_env({{"EMPTY", ""}})), "[]");
}

TEST(EnvExpandTest, DefaultIsUsedWhenUnsetOrEmpty) {
  auto env = fake_env({{"EMPTY", ""}, {"SET", "value"}});
  EXPECT_EQ(expand_env("${UNSET:-change-me}", env), "change-me");
  EXPECT_EQ(expand_env("${EMPTY:-change-me}", env), "change-me");
  EXPECT_EQ(expand_env("${SET:-change-me}", env), "value");
  EXPECT_EQ(expand_env("${UNSET:-}", env), "");
  EXPECT_EQ(expand_env("${UNSET:-a:-b}", env), "a:-b");
}

TEST(EnvExpandTest, DefaultMayItselfUseAVariable) {
  auto env = fake_env({{"FALLBACK", "fb"}});
  EXPECT_EQ(expand_env("${UNSET:-${FALLBACK}}!", env), "fb!");
  EXPECT_EQ(expand_env("${UNSET:-${ALSO_UNSET:-x}}", env), "x");
}

TEST(EnvExpandTest, DollarDollarBraceIsALiteral) {
  auto env = fake_env({{"VAR", "value"}});
  EXPECT_EQ(expand_env("$${VAR}", env), "${VAR}");
  EXPECT_EQ(expand_env("a $${ b ${VAR}", env), "a ${ b value");
  EXPECT_EQ(expand_env("${UNSET:-$${VAR}}", env), "${VAR}");
}

TEST(EnvExpandTest, LoneDollarIsKept) {
  auto env = fake_env({{"VAR", "value"}});
  EXPECT_EQ(expand_env("$", env), "$");
  EXPECT_EQ(expand_env("cost: 5$ or $VAR or $$", env), "cost: 5$ or $VAR or $$");
  EXPECT_EQ(expand_env("$${VAR}$", env), "${VAR}$");
}

TEST(EnvExpandTest, UnterminatedReferenceIsAnError) {
  EXPECT_EQ(error_of("abc ${VAR", fake_env({{"VAR", "v"}})),
            "unterminated ${ at character 5 of the value (close it with `}`, or write $${ for a "
            "literal ${)");
  EXPECT_EQ(error_of("${", fake_env({})),
            "unterminated ${ at character 1 of the value (close it with `}`, or write $${ for a "
            "literal ${)");
}

TEST(EnvExpandTest, InvalidVariableNameIsAnError) {
  const std::string tail =
      " of the value (a name is letters, digits and _, not starting with a digit; write $${ for "
      "a literal ${)";
  EXPECT_EQ(error_of("${1ABC}", fake_env({})),
            "invalid variable name in the ${...} at character 1" + tail);
  EXPECT_EQ(error_of("x${A-B:-x}", fake_env({})),
            "invalid variable name in the ${...} at character 2" + tail);
  EXPECT_EQ(error_of("${}", fake_env({})), "invalid variable name in the ${...} at character 1" + tail);
  EXPECT_EQ(error_of("${ VAR }", fake_env({})),
            "invalid variable name in the ${...} at character 1" + tail);
}

// Issue 11, defect 8: a config value is often a secret (a password next to a stray `${`, a
// secret pasted where a name belongs, a default); no error quotes any of it.
TEST(EnvExpandTest, ErrorsNeverQuoteTheValue) {
  const std::string secret = "S3cr3t-XYZZY";
  for (const std::string& text :
       {"redis://user:" + secret + "${@host", "pass" + secret + "${", "${" + secret + "}",
        "${" + secret + ":-x}", "${A:-" + secret + "", "${A:-${" + secret + "}}",
        "${A:-" + secret + "${B}", "${MISSING}" + secret, secret + "${ X }"}) {
    const std::string error = error_of(text, fake_env({}));
    EXPECT_FALSE(error.empty()) << text;
    EXPECT_EQ(error.find("XYZZY"), std::string::npos) << error;
  }
}

TEST(EnvExpandTest, NamesMayUseUnderscoresAndDigits) {
  auto env = fake_env({{"_A1_b2", "ok"}});
  EXPECT_EQ(expand_env("${_A1_b2}", env), "ok");
}

TEST(EnvExpandTest, ProcessEnvReadsTheRealEnvironment) {
  // Read-only: tests must not change the process environment.
  const EnvLookup env = process_env();
  EXPECT_EQ(env("HERALD_SURELY_NOT_SET_6F1C2A"), std::nullopt);
  const char* path = std::getenv("PATH");
  ASSERT_NE(path, nullptr) << "PATH is expected in a test environment";
  EXPECT_EQ(env("PATH"), std::optional<std::string>(path));
}

}  // namespace
}  // namespace herald
