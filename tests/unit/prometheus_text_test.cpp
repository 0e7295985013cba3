// The Prometheus text helpers of `GET /metrics` (ABI 1.2 plugin metrics): checking a plugin's
// untrusted text line by line, and merging several expositions so each family appears once.
#include "core/prometheus_text.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace herald {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string merge(std::vector<std::string_view> texts) { return merge_metrics_texts(texts); }

// ---- merge_metrics_texts -------------------------------------------------------------------

TEST(MergeMetricsTexts, OneTextComesOutUnchanged) {
  const std::string text =
      "# HELP a_total A.\n# TYPE a_total counter\na_total{connection=\"x\"} 1\n"
      "# HELP b B.\n# TYPE b gauge\nb 2\n";
  EXPECT_EQ(merge({text}), text);
}

TEST(MergeMetricsTexts, FamiliesOfSeveralInstancesAppearOnceWithContiguousSamples) {
  const std::string one =
      "# HELP ws_connections Open sockets.\n# TYPE ws_connections gauge\n"
      "ws_connections{connection=\"a\"} 3\n"
      "# HELP ws_messages_total Messages.\n# TYPE ws_messages_total counter\n"
      "ws_messages_total{connection=\"a\"} 10\n";
  const std::string two =
      "# HELP ws_connections Open sockets.\n# TYPE ws_connections gauge\n"
      "ws_connections{connection=\"b\"} 4\n"
      "# HELP ws_messages_total Messages.\n# TYPE ws_messages_total counter\n"
      "ws_messages_total{connection=\"b\"} 20\n";
  EXPECT_EQ(merge({one, two}),
            "# HELP ws_connections Open sockets.\n# TYPE ws_connections gauge\n"
            "ws_connections{connection=\"a\"} 3\nws_connections{connection=\"b\"} 4\n"
            "# HELP ws_messages_total Messages.\n# TYPE ws_messages_total counter\n"
            "ws_messages_total{connection=\"a\"} 10\nws_messages_total{connection=\"b\"} 20\n");
}

TEST(MergeMetricsTexts, HistogramSamplesStayWithTheirFamily) {
  const std::string one =
      "# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 3\n"
      "lat_count 2\n";
  const std::string two =
      "# TYPE lat histogram\nlat_bucket{c=\"b\",le=\"1\"} 0\nlat_bucket{c=\"b\",le=\"+Inf\"} 1\n"
      "lat_sum{c=\"b\"} 4\nlat_count{c=\"b\"} 1\n";
  EXPECT_EQ(merge({one, two}),
            "# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 3\n"
            "lat_count 2\nlat_bucket{c=\"b\",le=\"1\"} 0\nlat_bucket{c=\"b\",le=\"+Inf\"} 1\n"
            "lat_sum{c=\"b\"} 4\nlat_count{c=\"b\"} 1\n");
}

TEST(MergeMetricsTexts, FamilyOrderIsFirstAppearanceAndTheFirstHelpAndTypeWin) {
  const std::string host = "# HELP h_total Host.\n# TYPE h_total counter\nh_total 1\n";
  const std::string one = "# HELP p Plugin.\n# TYPE p gauge\np{c=\"1\"} 1\n";
  const std::string two =
      "# HELP q Q.\n# TYPE q gauge\nq 5\n# HELP p Other help.\n# TYPE p counter\np{c=\"2\"} 2\n"
      "# HELP h_total Not the host.\nh_total{c=\"2\"} 7\n";
  EXPECT_EQ(merge({host, one, two}),
            "# HELP h_total Host.\n# TYPE h_total counter\nh_total 1\nh_total{c=\"2\"} 7\n"
            "# HELP p Plugin.\n# TYPE p gauge\np{c=\"1\"} 1\np{c=\"2\"} 2\n"
            "# HELP q Q.\n# TYPE q gauge\nq 5\n");
}

TEST(MergeMetricsTexts, UndeclaredSamplesGroupByNameAndOtherCommentsAreDropped) {
  const std::string one = "# a comment\nx 1\ny{c=\"a\"} 2\n";
  const std::string two = "y{c=\"b\"} 3\n#another\nx{c=\"b\"} 4\n";
  EXPECT_EQ(merge({one, two}), "x 1\nx{c=\"b\"} 4\ny{c=\"a\"} 2\ny{c=\"b\"} 3\n");
}

TEST(MergeMetricsTexts, ACounterDeclaredWithoutItsTotalSuffixKeepsItsSamples) {
  // OpenMetrics style: the family is `jobs`, its sample `jobs_total`.
  const std::string one = "# TYPE jobs counter\njobs_total{c=\"a\"} 1\n";
  const std::string two = "# TYPE jobs counter\njobs_total{c=\"b\"} 2\n";
  EXPECT_EQ(merge({one, two}), "# TYPE jobs counter\njobs_total{c=\"a\"} 1\njobs_total{c=\"b\"} 2\n");
}

TEST(MergeMetricsTexts, ANameDeclaredItselfIsNotTakenForASuffixOfAnother) {
  const std::string text =
      "# TYPE req histogram\nreq_count 1\n# TYPE req_count_total counter\nreq_count_total 2\n"
      "# TYPE req_count gauge\n";
  // `req_count` is declared as a family of its own, so its sample goes there.
  EXPECT_EQ(merge({text}),
            "# TYPE req histogram\n# TYPE req_count gauge\nreq_count 1\n"
            "# TYPE req_count_total counter\nreq_count_total 2\n");
}

TEST(MergeMetricsTexts, EmptyInputsAndTextsWithoutTheLastNewline) {
  EXPECT_THAT(merge({}), IsEmpty());
  EXPECT_THAT(merge({"", ""}), IsEmpty());
  EXPECT_EQ(merge({"a 1", "a{c=\"x\"} 2\n\n"}), "a 1\na{c=\"x\"} 2\n");
}

TEST(MergeMetricsTexts, LabelValuesWithSpacesAndBracesDoNotConfuseTheName) {
  const std::string one = "# TYPE m gauge\nm{path=\"/a b{c}\"} 1\n";
  const std::string two = "m{path=\"x\"} 2\n";
  EXPECT_EQ(merge({one, two}), "# TYPE m gauge\nm{path=\"/a b{c}\"} 1\nm{path=\"x\"} 2\n");
}

// ---- check_metrics_text ---------------------------------------------------------------------

TEST(CheckMetricsText, KeepsEveryLineOfTheFormat) {
  const std::string text =
      "# HELP herald_ws_connections Open sockets, by connection.\n"
      "# TYPE herald_ws_connections gauge\n"
      "herald_ws_connections{connection=\"ws\"} 12\n"
      "herald_ws_connections{connection=\"ws\",app=\"a\\\"b\\\\c\\n\"} 1.5e3 1700000000000\n"
      "herald_ws_up 1\n"
      "herald_ws_nan{ connection = \"ws\" , } NaN\n"
      "herald_ws_inf +Inf\n"
      "herald_ws_neg -Inf\n"
      "herald_ws_neg2 -0.25 -5\n"
      "# TYPE herald_ws_latency histogram\n"
      "herald_ws_latency_bucket{le=\"0.1\"} 3\n"
      "herald_ws_empty{} 0\n"
      "# a free comment\n"
      "#\n"
      "herald_ws_utf8{name=\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x8e\x89\"}\t7\n";
  const CheckedMetricsText checked = check_metrics_text(text);
  EXPECT_EQ(checked.text, text);
  EXPECT_EQ(checked.dropped, 0u);
  EXPECT_THAT(checked.first_problem, IsEmpty());
}

TEST(CheckMetricsText, EndsTheLastLineAndDropsEmptyLinesAndCarriageReturns) {
  const CheckedMetricsText checked = check_metrics_text("a 1\r\n\n\nb 2");
  EXPECT_EQ(checked.text, "a 1\nb 2\n");
  EXPECT_EQ(checked.dropped, 0u);
}

TEST(CheckMetricsText, DropsLinesThatAreNotTheFormatAndSaysWhyForTheFirst) {
  const std::vector<std::string> bad = {
      "1abc 1",                           // bad metric name
      "abc",                              // no value
      "abc one",                          // not a number
      "abc 1 2 3",                        // extra text
      "abc 1 1.5",                        // bad timestamp
      "abc{c=\"x\" 1",                    // unbalanced
      "abc{c=x} 1",                       // unquoted
      "abc{c=\"x} 1",                     // unterminated
      "abc{1c=\"x\"} 1",                  // bad label name
      "abc{c} 1",                         // label without value
      "abc{c=\"x\"}1",                    // no blank before the value
      "# TYPE abc gauges",                // unknown type
      "# TYPE abc gauge extra",           // extra text
      "# HELP",                           // no name
      "# TYPE 9abc gauge",                // bad name
      "abc 1\x01",                        // control character
      "abc{c=\"\xff\"} 1",                // not UTF-8
      "abc{c=\"\xc0\xaf\"} 1",            // overlong
      "abc{c=\"\xed\xa0\x80\"} 1",        // surrogate
      "abc{c=\"\xe2\x9c\"} 1",            // truncated sequence
      "abc{c=\"\xc2\x85\"} 1",            // C1 control (NEL)
      std::string("abc{c=\"\0\"} 1", 12), // NUL
  };
  std::string text = "good 1\n";
  for (const auto& line : bad) text += line + "\n";
  text += "also_good{c=\"y\"} 2\n";
  const CheckedMetricsText checked = check_metrics_text(text);
  EXPECT_EQ(checked.text, "good 1\nalso_good{c=\"y\"} 2\n");
  EXPECT_EQ(checked.dropped, bad.size());
  EXPECT_THAT(checked.first_problem, HasSubstr("metric name"));
  for (const auto& line : bad) EXPECT_EQ(check_metrics_text(line).dropped, 1u) << line;
}

TEST(CheckMetricsText, NothingIsNothing) {
  EXPECT_THAT(check_metrics_text("").text, IsEmpty());
  EXPECT_THAT(check_metrics_text("\n\n").text, IsEmpty());
}

}  // namespace
}  // namespace herald
