// Pusher signing (plugins/common/pusher/pusher_signing.hpp) against every vector of protocols.md sections
// 2 and 3: the official REST example, pusher-http-node's create_signed_query_string and
// authenticate tests, and the channel-auth table of library_auth_reference/auth-signatures.md.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/pusher/pusher_signing.hpp"

namespace {

using herald::pusher::channel_auth;
using herald::pusher::Credentials;
using herald::pusher::signed_query;
using herald::pusher::user_auth;

// The official documentation's app (rest-api.md, auth-signatures.md).
const Credentials kDocs{"3", "278d425bdf160c739803", "7ad3773142a6692b25b8"};
// pusher-http-node's test app.
const Credentials kTofu{"1234", "f00d", "tofu"};

TEST(PusherSigning, Md5AndHmacPrimitives) {
  // RFC 1321 and RFC 4231 test case 2.
  EXPECT_EQ(herald::pusher::md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(herald::pusher::md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(herald::pusher::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(herald::pusher::md5_hex("example body"), "165d5e6d7ca8f73b3853ce45addf42fc");
}

TEST(PusherSigning, HmacRfc4231AndKeyLengthBoundaries) {
  // RFC 4231 test cases 1, 6 and 7 (6 and 7: a 131-byte key, hashed first).
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  const std::string long_key(131, '\xaa');
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(
                long_key, "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(
                long_key,
                "This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // Keys of exactly one block and one byte more, computed once with
  //   printf abc | openssl dgst -sha256 -mac HMAC -macopt hexkey:<61 x 64 or 65>
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(std::string(64, 'a'), "abc"),
            "6608ac82dca1cb1fddbb5d81e3d9877642b744f565cd9697ac27daa250c80d28");
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(std::string(65, 'a'), "abc"),
            "c0d2f0e7f578e80e4996cf2ffb922ea70fe1094e693f2cd75bbba0281add9da5");
}

TEST(PusherSigning, RestVectorAOfficialExample) {
  const std::string body =
      R"({"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"})";
  EXPECT_EQ(herald::pusher::md5_hex(body), "ec365a775a4cd0599faeb73354201b6f");
  // The string to sign given by the docs, signed directly...
  EXPECT_EQ(herald::pusher::hmac_sha256_hex(
                kDocs.secret,
                "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&"
                "auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"),
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c");
  // ... and the whole query string as signed_query builds it.
  EXPECT_EQ(signed_query(kDocs, "POST", "/apps/3/events", body, 1353088179),
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&"
            "body_md5=ec365a775a4cd0599faeb73354201b6f&"
            "auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c");
}

TEST(PusherSigning, RestVectorBWithBody) {
  EXPECT_EQ(signed_query(kTofu, "GET", "/event", "example body", 1234567890),
            "auth_key=f00d&auth_timestamp=1234567890&auth_version=1.0&"
            "body_md5=165d5e6d7ca8f73b3853ce45addf42fc&"
            "auth_signature=a650196dc427ebe837226f8565ca9232198c6d1b9455eaa72374a9dc0b620e7b");
}

TEST(PusherSigning, RestVectorBWithParamsAndNoBody) {
  // Params are sorted in among the auth_* ones; no body means no body_md5.
  EXPECT_EQ(
      signed_query(kTofu, "GET", "/event", "", 1234567890, {{"foo", "bar"}, {"baz", "123454321"}}),
      "auth_key=f00d&auth_timestamp=1234567890&auth_version=1.0&baz=123454321&foo=bar&"
      "auth_signature=d8bdbd31911fb7400a14fbd36fd7de053494725b64400ae5856deafe304b34a9");
}

TEST(PusherSigning, MethodIsUppercasedLikeTheReferenceLibrary) {
  EXPECT_EQ(signed_query(kTofu, "get", "/event", "example body", 1234567890),
            signed_query(kTofu, "GET", "/event", "example body", 1234567890));
}

TEST(PusherSigning, SortsByByteOrderWithoutEscaping) {
  // '_' (0x5F) sorts after uppercase and before lowercase; values are not escaped.
  const std::string q = signed_query(
      kTofu, "GET", "/apps/1/channels", "", 1,
      {{"info", "user_count,subscription_count"}, {"Z", "1"}, {"filter_by_prefix", "presence-"}});
  EXPECT_EQ(q.substr(0, q.find("&auth_signature=")),
            "Z=1&auth_key=f00d&auth_timestamp=1&auth_version=1.0&"
            "filter_by_prefix=presence-&info=user_count,subscription_count");
  const std::string signed_part = q.substr(0, q.find("&auth_signature="));
  EXPECT_EQ(q.substr(q.find("&auth_signature=") + 16),
            herald::pusher::hmac_sha256_hex("tofu", "GET\n/apps/1/channels\n" + signed_part));
}

TEST(PusherSigning, ReservedOrRepeatedParamsAreRefused) {
  for (const char* reserved :
       {"auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"})
    EXPECT_THROW(signed_query(kTofu, "GET", "/x", "", 1, {{reserved, "1"}}), std::invalid_argument)
        << reserved;
  EXPECT_THROW(signed_query(kTofu, "GET", "/x", "", 1, {{"a", "1"}, {"a", "2"}}),
               std::invalid_argument);
  try {
    signed_query(kTofu, "GET", "/x", "", 1, {{"auth_key", "1"}});
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("tofu"), std::string::npos);  // never the secret
  }
}

TEST(PusherSigning, PrivateChannelVector) {
  EXPECT_EQ(
      channel_auth(kDocs, "1234.1234", "private-foobar"),
      "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
}

TEST(PusherSigning, PresenceVectorRightPairing) {
  // protocols.md: the docs print the "Mr. Channels" data with the old "Mr. Pusher" signature;
  // each data string has its own signature.
  EXPECT_EQ(
      channel_auth(kDocs, "1234.1234", "presence-foobar",
                   R"({"user_id":10,"user_info":{"name":"Mr. Channels"}})"),
      "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80");
  EXPECT_EQ(
      channel_auth(kDocs, "1234.1234", "presence-foobar",
                   R"({"user_id":10,"user_info":{"name":"Mr. Pusher"}})"),
      "278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c");
}

TEST(PusherSigning, UserSignInVector) {
  EXPECT_EQ(
      user_auth(kDocs, "1234.1234", R"({"id":"12345"})"),
      "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba");
  // pusher-http-node tests/integration/pusher/authenticate.js (#authenticateUser).
  EXPECT_EQ(user_auth(Credentials{"10000", "aaaa", "tofu"}, "123.456", R"({"id":"45678"})"),
            "aaaa:f4b1fdeea7c93e32648c7230e32b172057c5623cace6cfce791c6e7035e0babd");
}

TEST(PusherSigning, AllAllowedCharactersVector) {
  EXPECT_EQ(
      channel_auth(kDocs, "1234.1234", "private-azAZ9_=@,.;"),
      "278d425bdf160c739803:208cbbce2a22fd7d7c3509046b17a97b99d345cf4c195bc0d54af9004a022b0b");
}

TEST(PusherSigning, TofuTestChannelVector) {
  EXPECT_EQ(channel_auth(Credentials{"10000", "aaaa", "tofu"}, "123.456", "test"),
            "aaaa:efa6cf7644a0b35cba36aa0f776f3cbf7bb60e95ea2696bde1dbe8403b61bd7c");
}

TEST(PusherSigning, EncryptedChannelSharedSecret) {
  std::string key;
  // pusher-http-node "Pusher with encryptionMasterKey": shared_secret of private-encrypted-bla,
  // and the auth of that channel with channel_data "\"foo\"".
  ASSERT_TRUE(herald::pusher::base64_decode("zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=", key));
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(herald::pusher::encrypted_shared_secret("private-encrypted-bla", key),
            "nlr49ISQHz91yS3cy/yWmW8wFMNeTnNL5tNHnbPJcLQ=");
  EXPECT_EQ(channel_auth(kTofu, "123.456", "private-encrypted-bla", "\"foo\""),
            "f00d:962c48b78bf93d98ff4c92ee7dff04865821455b7b401e9d60a9e0a90af2c105");

  // Independent values, computed once with
  //   (printf '%s' "$CHANNEL"; printf '%s' "$KEY_BASE64" | base64 -d) |
  //     openssl dgst -sha256 -binary | base64
  ASSERT_TRUE(herald::pusher::base64_decode("VGhpcyBpcyBhIHN0cmluZyB0aGF0IGlzIDMyIGNocnM=", key));
  EXPECT_EQ(key, "This is a string that is 32 chrs");
  EXPECT_EQ(herald::pusher::encrypted_shared_secret("private-encrypted-bla", key),
            "YOWbUF2btGehqRNiu9GTfk0YU++IvMqUplzdmANTF0Y=");
  EXPECT_EQ(herald::pusher::encrypted_shared_secret("private-encrypted-orders.1", key),
            "O+tzNEQy9hJqR8Wl9vkZOzTmUWn8PXEUmcK5K8SWnzg=");
  // A binary key (bytes 0x00..0x1f): NULs must not cut the input short.
  ASSERT_TRUE(herald::pusher::base64_decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key));
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(key[0], '\0');
  EXPECT_EQ(herald::pusher::encrypted_shared_secret("private-encrypted-bin", key),
            "+IVcz7iyuDngI40P5XQs4IerGe7Z4IAMoFA2gb1FgCY=");
}

TEST(PusherSigning, Base64RoundTripAndStrictDecoding) {
  const std::string all = [] {
    std::string s;
    for (int i = 0; i < 256; ++i) s += char(i);
    return s;
  }();
  for (size_t n = 0; n <= 5; ++n) {
    std::string in = all.substr(250, n), out;
    std::string enc =
        herald::pusher::base64_encode(reinterpret_cast<const unsigned char*>(in.data()), n);
    EXPECT_EQ(enc.size() % 4, 0u);
    ASSERT_TRUE(herald::pusher::base64_decode(enc, out)) << enc;
    EXPECT_EQ(out, in);
  }
  EXPECT_EQ(herald::pusher::base64_encode(reinterpret_cast<const unsigned char*>("foob"), 4),
            "Zm9vYg==");
  std::string out;
  for (const char* bad : {"Zm9vYg=", "Zm9v Yg==", "Zm9vY===", "Zm=vYg==", "Zm9vYg==Zm9v", "****"})
    EXPECT_FALSE(herald::pusher::base64_decode(bad, out)) << bad;
}

TEST(PusherSigning, ConstantTimeEquals) {
  EXPECT_TRUE(herald::pusher::constant_time_equals("", ""));
  EXPECT_TRUE(herald::pusher::constant_time_equals("abc", "abc"));
  EXPECT_FALSE(herald::pusher::constant_time_equals("abc", "abd"));
  EXPECT_FALSE(herald::pusher::constant_time_equals("abc", "abcd"));
  EXPECT_FALSE(herald::pusher::constant_time_equals("", "a"));
}

TEST(PusherSigning, EmptySecretIsStillAnHmac) {
  // RFC 4231 has no empty-key case; this is HMAC-SHA256("", "") as every library computes it.
  EXPECT_EQ(herald::pusher::hmac_sha256_hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
