// The shared HTTP client's pure helpers (plugins/common/http_client.hpp): URL checks, what error
// messages may show, retry delays, and JSON string building. The transfers themselves (keep-alive,
// retries, timeouts) are exercised through the real plugins in tests/integration/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "common/http_client.hpp"

namespace {

namespace http = herald::plugins::http;
using std::chrono::milliseconds;

TEST(HttpClientHelpers, CheckHttpUrl) {
  for (std::string_view ok :
       {"http://127.0.0.1:8000/api", "https://example.com", "HTTP://h", "http://user:pw@h:1/p",
        "http://[::1]:8000/api", "http://h/p?q=1", "https://h:65535"})
    EXPECT_EQ(http::check_http_url(ok), "") << ok;
  EXPECT_EQ(http::check_http_url("ftp://h"), "must start with http:// or https://");
  EXPECT_EQ(http::check_http_url("127.0.0.1:8000"), "must start with http:// or https://");
  EXPECT_EQ(http::check_http_url("http://"), "has no host");
  EXPECT_EQ(http::check_http_url("http:///api"), "has no host");
  EXPECT_EQ(http::check_http_url("http://h:/api"), "has an empty port");
  EXPECT_EQ(http::check_http_url("http://h:65536"), "has an invalid port");
  EXPECT_EQ(http::check_http_url("http://h:12a"), "has an invalid port");
  EXPECT_EQ(http::check_http_url("http://h:99999999999999999999"), "has an invalid port");
  EXPECT_EQ(http::check_http_url("http://[::1"), "has an unterminated IPv6 address");
  EXPECT_EQ(http::check_http_url("http://h\t/x"), "must not contain spaces or control characters");
}

TEST(HttpClientHelpers, RedactUrlDropsCredentialsQueryAndFragment) {
  EXPECT_EQ(http::redact_url("http://127.0.0.1:8000/api/publish"),
            "http://127.0.0.1:8000/api/publish");
  EXPECT_EQ(http::redact_url("https://user:secret@h:1/apps/3/events?auth_key=k&auth_signature=s#f"),
            "https://h:1/apps/3/events");
  EXPECT_EQ(http::redact_url("http://h?api_key=x"), "http://h");
  EXPECT_EQ(http::redact_url("not a url"), "<url>");
}

TEST(HttpClientHelpers, ScrubAndOneLine) {
  std::string text = "key abc and abcabc, sig 99";
  http::scrub(text, {"abc", "", "99"});
  EXPECT_EQ(text, "key *** and ******, sig ***");
  std::string nested = "aaaa";
  http::scrub(nested, {"aa"});  // replacements are not scanned again
  EXPECT_EQ(nested, "******");

  EXPECT_EQ(http::one_line("  line one\r\n\tline  two \n"), "line one line two");
  EXPECT_EQ(http::one_line(std::string(500, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(http::one_line(""), "");
}

TEST(HttpClientHelpers, BackoffDoublesIsCappedAndJittered) {
  for (int i = 0; i < 50; ++i) {
    const auto first = http::backoff_delay(1, milliseconds(100), milliseconds(2000));
    EXPECT_GE(first.count(), 50);
    EXPECT_LE(first.count(), 100);
    const auto third = http::backoff_delay(3, milliseconds(100), milliseconds(2000));
    EXPECT_GE(third.count(), 200);
    EXPECT_LE(third.count(), 400);
    const auto capped = http::backoff_delay(30, milliseconds(100), milliseconds(2000));
    EXPECT_GE(capped.count(), 1000);
    EXPECT_LE(capped.count(), 2000);
  }
  EXPECT_EQ(http::backoff_delay(1, milliseconds(0), milliseconds(2000)).count(), 0);
}

TEST(HttpClientHelpers, Utf8Validation) {
  for (std::string_view ok : {"", "ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                              "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(http::valid_utf8(ok)) << ok;
  for (std::string_view bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf0\x82\x82\xac", "a\x80z", "\xe2\x82"})
    EXPECT_FALSE(http::valid_utf8(bad)) << ::testing::PrintToString(bad);
}

TEST(HttpClientHelpers, JsonStringsRoundTrip) {
  std::string all;
  for (int c = 1; c < 128; ++c) all += char(c);
  all += "\xc3\xa9\xf0\x9f\x98\x80";
  std::string out = "x";
  ASSERT_TRUE(http::append_json_string(out, all));
  EXPECT_EQ(out.front(), 'x');
  EXPECT_EQ(boost::json::parse(out.substr(1)).as_string(), all);
  out.clear();
  ASSERT_TRUE(http::append_json_string(out, "a\"b\\c\n\x1f"));
  EXPECT_EQ(out, R"("a\"b\\c\n\u001f")");

  out = "unchanged";
  EXPECT_FALSE(http::append_json_string(out, "bad \xff"));
  EXPECT_EQ(out, "unchanged");
}

}  // namespace
