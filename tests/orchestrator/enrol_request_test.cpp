// Unit tests of the outside bytes of gateway enrolment (enrol_request.hpp):
// the request body, the CSR's key, signature and name, and the name the
// certificate gets; with real keys and CSRs made by OpenSSL. The refusals that
// need the store (expired, reused, unknown token) are in enrolment_test.cpp,
// over TLS against the real orchestrator.
#include "orchestrator/enrol_request.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

namespace c4i::orchestrator {
namespace {

using nlohmann::json;

std::string pem_of(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<std::size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

std::string rsa_key(unsigned bits) { return pem_of(EVP_RSA_gen(bits)); }
std::string ec_key(const char* curve) { return pem_of(EVP_EC_gen(curve)); }
std::string ed25519_key() { return pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

std::string csr(const std::string& key, const std::string& cn) {
  auto c = x509::make_csr(key, cn);
  EXPECT_TRUE(c) << c.error().message;
  return c ? *c : std::string();
}

// The same CSR with the last byte of its signature changed: it still parses.
std::string tampered(const std::string& pem) {
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req, &der);
  X509_REQ_free(req);
  der[n - 1] ^= 0x01;
  const unsigned char* p = der;
  X509_REQ* bad = d2i_X509_REQ(nullptr, &p, n);
  OPENSSL_free(der);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(out, bad);
  X509_REQ_free(bad);
  char* t = nullptr;
  long len = BIO_get_mem_data(out, &t);
  std::string s(t, static_cast<std::size_t>(len));
  BIO_free(out);
  return s;
}

const std::string& p256() {
  static const std::string k = *x509::generate_p256_key();
  return k;
}

std::string code_of(const Result<EnrolBody>& r) { return r ? "ok" : r.error().code; }

TEST(EnrolBody, TakesTheTokenFromTheBodyOrTheHeader) {
  std::string c = csr(p256(), "gw-9");
  auto b = parse_enrol_body(json{{"csr", c}, {"token", "bt-1.abc"}}.dump(), nullptr, true);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->token, "bt-1.abc");
  EXPECT_EQ(b->csr_pem, c);
  std::string auth = "Bearer bt-2.def";
  b = parse_enrol_body(json{{"csr", c}}.dump(), &auth, true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->token, "bt-2.def");
  // The same token in both places is fine.
  std::string same = "Bearer bt-1.abc";
  EXPECT_TRUE(parse_enrol_body(json{{"csr", c}, {"token", "bt-1.abc"}}.dump(), &same, true));
  // A renewal carries no token.
  b = parse_enrol_body(json{{"csr", c}}.dump(), nullptr, false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->token, "");
}

TEST(EnrolBody, RefusesEachBadBodyNamingWhatIsWrong) {
  std::string c = csr(p256(), "gw-9");
  EXPECT_EQ(code_of(parse_enrol_body("", nullptr, true)), "invalid_argument");
  EXPECT_EQ(code_of(parse_enrol_body("{\"csr\":", nullptr, true)), "invalid_json");
  EXPECT_EQ(code_of(parse_enrol_body("[1]", nullptr, true)), "invalid_argument");
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", 5}, {"token", "t"}}.dump(), nullptr, true)), "invalid_argument");
  EXPECT_EQ(code_of(parse_enrol_body(json{{"token", "t"}}.dump(), nullptr, true)), "invalid_argument");
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", c}, {"token", ""}}.dump(), nullptr, true)), "invalid_argument");
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", c}, {"token", 7}}.dump(), nullptr, true)), "invalid_argument");
  auto unknown = parse_enrol_body(json{{"csr", c}, {"token", "t"}, {"name", "x"}}.dump(), nullptr, true);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "invalid_argument");
  EXPECT_NE(unknown.error().message.find("\"name\": unknown field"), std::string::npos) << unknown.error().message;
  // No token at all, a header that is not Bearer, two different tokens.
  auto none = parse_enrol_body(json{{"csr", c}}.dump(), nullptr, true);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "unauthenticated");
  std::string basic = "Basic dXNlcg==";
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", c}}.dump(), &basic, true)), "unauthenticated");
  std::string other = "Bearer bt-2.x";
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", c}, {"token", "bt-1.y"}}.dump(), &other, true)), "invalid_argument");
  // A renewal with a token: the certificate is the credential.
  EXPECT_EQ(code_of(parse_enrol_body(json{{"csr", c}, {"token", "t"}}.dump(), nullptr, false)), "invalid_argument");
  // A CSR too long to be one.
  auto big = parse_enrol_body(json{{"csr", std::string(kMaxCsrBytes + 1, 'A')}, {"token", "t"}}.dump(), nullptr, true);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, "malformed_csr");
}

TEST(EnrolBody, AnUnknownFieldNameIsQuotedAndCut) {
  auto r = parse_enrol_body("{\"csr\":\"x\",\"" + std::string(500, 'k') + "\":1}", nullptr, true);
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().message.size(), 200u);
}

TEST(GatewayName, IsADnsLabelLikeName) {
  for (const char* ok : {"gw-1", "a", "0", "pi.kitchen", "gateway-0042"}) EXPECT_TRUE(valid_gateway_name(ok)) << ok;
  for (const char* bad : {"", "-gw", "gw-", ".gw", "GW-1", "gw_1", "gw 1", "gw/1", "gw:1", "é"})
    EXPECT_FALSE(valid_gateway_name(bad)) << bad;
  EXPECT_TRUE(valid_gateway_name(std::string(63, 'a')));
  EXPECT_FALSE(valid_gateway_name(std::string(64, 'a')));
}

TEST(CheckCsr, AcceptsTheStrongKeys) {
  for (const auto& [what, key] : std::vector<std::pair<std::string, std::string>>{
           {"P-256", p256()}, {"P-384", ec_key("P-384")}, {"RSA 2048", rsa_key(2048)}, {"Ed25519", ed25519_key()}}) {
    auto info = check_csr(csr(key, "gw-9"));
    ASSERT_TRUE(info) << what << ": " << info.error().message;
    EXPECT_EQ(info->common_name, "gw-9");
    EXPECT_TRUE(info->signature_valid);
  }
  auto info = check_csr(csr(p256(), "gw-9"));
  EXPECT_EQ(info->key_type, "EC");
  EXPECT_EQ(info->curve, "P-256");
}

TEST(CheckCsr, RefusesAWeakKey) {
  auto rsa = check_csr(csr(rsa_key(1024), "gw-9"));
  ASSERT_FALSE(rsa);
  EXPECT_EQ(rsa.error().code, "weak_key");
  EXPECT_NE(rsa.error().message.find("1024 bits"), std::string::npos) << rsa.error().message;
  for (const char* curve : {"P-224", "secp256k1"}) {
    auto ec = check_csr(csr(ec_key(curve), "gw-9"));
    ASSERT_FALSE(ec) << curve;
    EXPECT_EQ(ec.error().code, "weak_key") << curve;
    EXPECT_NE(ec.error().message.find("curve"), std::string::npos) << ec.error().message;
  }
}

TEST(CheckCsr, RefusesAMalformedCsr) {
  std::string good = csr(p256(), "gw-9");
  for (const std::string& bad : {std::string(), std::string("hello"),
                                 std::string("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
                                 good.substr(0, good.size() / 2), good + good, good + "trailing garbage"}) {
    auto r = check_csr(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "malformed_csr") << bad;
  }
  // A private key is not a CSR.
  auto key = check_csr(p256());
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, "malformed_csr");
}

TEST(CheckCsr, RefusesACsrNotSignedByItsKey) {
  auto r = check_csr(tampered(csr(p256(), "gw-9")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad_csr_signature");
}

TEST(CertificateName, IsTheTokensOrTheCsrs) {
  x509::CsrInfo named;
  named.common_name = "gw-9";
  x509::CsrInfo nameless;
  EXPECT_EQ(*certificate_name(named, ""), "gw-9");
  EXPECT_EQ(*certificate_name(named, "gw-9"), "gw-9");
  EXPECT_EQ(*certificate_name(nameless, "gw-7"), "gw-7");
}

TEST(CertificateName, RefusesACsrForAnotherName) {
  x509::CsrInfo named;
  named.common_name = "gw-9";
  auto r = certificate_name(named, "gw-7");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "name_mismatch");
  EXPECT_NE(r.error().message.find("\"gw-9\""), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("\"gw-7\""), std::string::npos) << r.error().message;
  // And a CSR of a real key for another name, end to end through check_csr.
  auto info = check_csr(csr(p256(), "intruder"));
  ASSERT_TRUE(info);
  EXPECT_EQ(certificate_name(*info, "gw-7").error().code, "name_mismatch");
}

TEST(CertificateName, RefusesNoNameOrABadOne) {
  x509::CsrInfo nameless;
  auto r = certificate_name(nameless, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_name");
  for (const char* bad : {"GW-1", "gw/../1", "-x", "a b"}) {
    x509::CsrInfo c;
    c.common_name = bad;
    auto e = certificate_name(c, "");
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code, "invalid_name") << bad;
  }
}

TEST(CheckCsr, ACsrWithSeveralCommonNamesIsMalformed) {
  // Build one by hand: make_csr writes a single CN.
  BIO* kb = BIO_new_mem_buf(p256().data(), static_cast<int>(p256().size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_REQ_get_subject_name(req);
  for (const char* cn : {"gw-1", "gw-2"})
    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(out, req);
  char* t = nullptr;
  long n = BIO_get_mem_data(out, &t);
  std::string pem(t, static_cast<std::size_t>(n));
  BIO_free(out);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  auto r = check_csr(pem);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "malformed_csr");
}

}  // namespace
}  // namespace c4i::orchestrator
