// X.509 for gateway enrolment, on OpenSSL's C API: a gateway makes its key
// pair and a certificate signing request (CSR); the orchestrator inspects a
// CSR (its name, its key, its signature) and signs a short-lived client
// certificate with the fleet CA. Text in (PEM), values or errors out; no I/O
// except Ca::load reading the CA's files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "common/result.hpp"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace c4i::x509 {

// A new EC P-256 private key, PKCS#8 PEM.
Result<std::string> generate_p256_key();
// A CSR signed by `key_pem`, subject CN=`common_name` (no subject when empty).
// Errors: "invalid_key".
Result<std::string> make_csr(const std::string& key_pem, const std::string& common_name);

// What a CSR says about itself. Errors: "malformed_csr" (not one PEM CSR,
// trailing garbage, several CNs, a CN that is not UTF-8 text).
struct CsrInfo {
  std::string common_name;     // empty when the subject has none
  std::string key_type;        // "RSA", "EC", "ED25519", else OpenSSL's name
  int key_bits = 0;
  std::string curve;           // EC: "P-256", "P-384", or OpenSSL's group name
  bool signature_valid = false;
};
Result<CsrInfo> inspect_csr(std::string_view pem);

// What a certificate says (the gateway reads its own to plan renewal).
struct CertInfo {
  std::string common_name;
  std::string serial_hex;      // as tls::peer_identity gives it (BN_bn2hex)
  std::string sha256_hex;      // fingerprint of the DER encoding, lowercase
  std::int64_t not_before_ms = 0, not_after_ms = 0;
};
Result<CertInfo> inspect_cert(std::string_view pem);
// The same for the first certificate of a PEM file; errors name the file.
Result<CertInfo> inspect_cert_file(const std::string& path);
// The lowercase SHA-256 fingerprint of a certificate's DER encoding.
std::string sha256_hex_of(const X509* cert);
// True when the private key `key_pem` belongs to the certificate `cert_pem`.
bool key_matches_cert(const std::string& key_pem, const std::string& cert_pem);

struct Issued {
  std::string cert_pem;
  CertInfo info;
};

// The fleet CA: its certificate and private key, loaded once.
class Ca {
 public:
  // Errors: "invalid_config" naming the file and what is wrong with it.
  static Result<Ca> load(const std::string& cert_file, const std::string& key_file);
  // Signs a client certificate for `name` (CN and DNS SAN, clientAuth) with
  // the CSR's public key, valid from `now_s` for `lifetime_s` seconds. The CSR
  // is assumed checked (inspect_csr). Errors: "malformed_csr", "internal".
  Result<Issued> sign(std::string_view csr_pem, const std::string& name, std::int64_t now_s,
                      std::int64_t lifetime_s) const;
  const std::string& cert_pem() const { return cert_pem_; }

 private:
  std::shared_ptr<X509> cert_;
  std::shared_ptr<EVP_PKEY> key_;
  std::string cert_pem_;
};

// A Unix time in ms as RFC 3339 UTC to the second ("2026-12-01T12:00:00Z"),
// for the validity times in messages and logs.
std::string utc_text(std::int64_t ms);

}  // namespace c4i::x509
