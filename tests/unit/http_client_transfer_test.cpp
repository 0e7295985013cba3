// The shared libcurl client (plugins/common/http_client.hpp) against local peers: keep-alive
// reuse, the handle pool under concurrency, total timeouts, retries only for transport errors
// (and for sent-but-unanswered requests only when allowed), response size limit, and error lines
// that never show credentials.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "../support/http_test.hpp"
#include "common/http_client.hpp"

namespace {

namespace http = herald::plugins::http;
using herald::testing_support::TestHttpServer;
using herald::testing_support::TestRequest;
using herald::testing_support::TestResponse;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

http::ClientOptions fast_options() {
  http::ClientOptions o;
  o.timeout = milliseconds(3000);
  o.retry_backoff = milliseconds(5);
  return o;
}

std::string transport_error(const http::HttpClient& client, const std::string& url) {
  try {
    client.post(url, "{}");
  } catch (const http::TransportError& e) {
    return e.what();
  }
  return "answered";
}

// Accepts TCP connections and closes them at once (after reading what arrives): a peer that
// takes the request and never answers.
class HangUpPeer {
 public:
  HangUpPeer()
      : acceptor_(io_, {boost::asio::ip::address_v4::loopback(), 0}),
        port_(acceptor_.local_endpoint().port()),
        thread_([this] {
          while (!stop_) {
            boost::asio::ip::tcp::socket s(io_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (stop_ || ec) continue;
            ++accepted_;
            char buf[4096];
            s.read_some(boost::asio::buffer(buf), ec);  // the request arrives, then we hang up
            s.close(ec);
          }
        }) {}
  ~HangUpPeer() {
    stop_ = true;
    boost::asio::ip::tcp::socket wake(io_);  // a connection wakes the blocking accept()
    boost::system::error_code ignored;
    wake.connect({boost::asio::ip::address_v4::loopback(), port_}, ignored);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }
  int accepted() const { return accepted_.load(); }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(HttpClientTransfer, PostsWithHeadersAndReusesTheConnection) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse res;
    res.status = r.target == "/missing" ? 404 : 200;
    res.body = "echo:" + r.body;
    return res;
  });
  http::ClientOptions o = fast_options();
  o.headers = {"Content-Type: application/json", "X-Test: 1"};
  http::HttpClient client(o);
  for (int i = 0; i < 10; ++i) {
    const http::Response r = client.post(server.url() + "/p", "{\"i\":" + std::to_string(i) + "}");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "echo:{\"i\":" + std::to_string(i) + "}");
    EXPECT_EQ(r.attempts, 1);
  }
  const http::Response missing = client.post(server.url() + "/missing", std::string(5000, 'x'));
  EXPECT_EQ(missing.status, 404) << "any HTTP status is an answer";
  EXPECT_EQ(client.get(server.url() + "/g").status, 200);
  EXPECT_EQ(server.connection_count(), 1u);
  EXPECT_EQ(client.idle_handles(), 1u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 12u);
  EXPECT_EQ(requests[0].header("X-Test"), "1");
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(requests[10].header("Expect"), "") << "no 100-continue round trip";
  EXPECT_EQ(requests[10].body.size(), 5000u);
  EXPECT_EQ(requests[11].method, "GET");
  EXPECT_EQ(client.transport_problem(), "");
}

TEST(HttpClientTransfer, ConcurrentRequestsEachGetAHandleAndThePoolIsBounded) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse res;
    res.body = r.body;
    res.delay = milliseconds(50);  // keeps the requests overlapping
    return res;
  });
  http::ClientOptions o = fast_options();
  o.pool_size = 2;
  http::HttpClient client(o);
  constexpr int kThreads = 6, kEach = 5;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string body = std::to_string(t) + ":" + std::to_string(i);
        if (client.post(server.url(), body).body != body) ++wrong;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(server.request_count(), std::size_t(kThreads * kEach));
  EXPECT_LE(client.idle_handles(), 2u);
}

TEST(HttpClientTransfer, NothingListeningIsRetriedThenReported) {
  const std::uint16_t port = [] {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::address_v4::loopback(), 0});
    return a.local_endpoint().port();  // closed again: nothing listens there
  }();
  http::ClientOptions o = fast_options();
  o.retries = 3;
  o.redact = {"s3cret"};
  http::HttpClient client(o);
  const std::string url =
      "http://user:s3cret@127.0.0.1:" + std::to_string(port) + "/api/x?api_key=s3cret#frag";
  const std::string error = transport_error(client, url);
  EXPECT_THAT(error, AllOf(HasSubstr("POST http://127.0.0.1:" + std::to_string(port) + "/api/x: "),
                           HasSubstr("(4 attempts)"), Not(HasSubstr("s3cret")),
                           Not(HasSubstr("api_key")), Not(HasSubstr("\n"))));
  EXPECT_EQ(client.transport_problem(), error);
}

TEST(HttpClientTransfer, ASentRequestWithoutAnswerIsRetriedOnlyWhenAllowed) {
  HangUpPeer peer;
  http::ClientOptions o = fast_options();
  o.retries = 2;
  {
    http::HttpClient client(o);
    EXPECT_THAT(transport_error(client, peer.url()), Not(HasSubstr("attempts")));
    EXPECT_EQ(peer.accepted(), 1) << "the peer may have acted on it: no retry";
  }
  o.retry_unanswered = true;
  http::HttpClient client(o);
  EXPECT_THAT(transport_error(client, peer.url()), HasSubstr("(3 attempts)"));
  EXPECT_EQ(peer.accepted(), 1 + 3);
}

TEST(HttpClientTransfer, TheTotalTimeoutIsHonouredPerAttempt) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse res;
    res.delay = milliseconds(5000);
    return res;
  });
  http::ClientOptions o = fast_options();
  o.timeout = milliseconds(200);
  o.retries = 1;
  o.retry_unanswered = true;
  http::HttpClient client(o);
  const auto start = Clock::now();
  EXPECT_THAT(transport_error(client, server.url()),
              AllOf(HasSubstr("timed out"), HasSubstr("(2 attempts)")));
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(HttpClientTransfer, AServerErrorIsAnAnswerAndNeverRetried) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse res;
    res.status = 503;
    res.body = "busy";
    return res;
  });
  http::ClientOptions o = fast_options();
  o.retries = 5;
  o.retry_unanswered = true;
  http::HttpClient client(o);
  const http::Response r = client.post(server.url(), "x");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "busy");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(HttpClientTransfer, AnOversizeReplyIsRefused) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse res;
    res.body = std::string(4096, 'x');
    return res;
  });
  http::ClientOptions o = fast_options();
  o.max_response_bytes = 1000;
  http::HttpClient client(o);
  EXPECT_THAT(transport_error(client, server.url()), HasSubstr("reply larger than 1000 bytes"));
  EXPECT_EQ(server.request_count(), 1u) << "the peer answered: no retry";
  // A client with a larger limit takes it.
  o.max_response_bytes = 1 << 20;
  http::HttpClient big(o);
  EXPECT_EQ(big.post(server.url(), "x").body.size(), 4096u);
}

}  // namespace
