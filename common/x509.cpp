#include "common/x509.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace c4i::x509 {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

BioPtr mem_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_text(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

// Only whitespace may follow the one PEM block: a second object is not ignored silently.
bool only_space_left(BIO* b) {
  char c;
  while (BIO_read(b, &c, 1) == 1)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
  return true;
}

Result<KeyPtr> read_key(std::string_view pem) {
  if (pem.size() > 64 * 1024) return Error{"invalid_key", "private key: larger than 64 KiB"};
  auto b = mem_bio(pem);
  KeyPtr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) return Error{"invalid_key", "private key: not a PEM private key (" + openssl_error() + ")"};
  return k;
}

// The single CN of a name; "" when absent; error text when several or not text.
bool common_name_of(const X509_NAME* name, std::string& out, std::string& why) {
  out.clear();
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return true;
  if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
    why = "the subject has several common names";
    return false;
  }
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) {
    why = "the common name is not text";
    return false;
  }
  out.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  if (out.find('\0') != std::string::npos) {
    why = "the common name contains a NUL byte";
    return false;
  }
  return true;
}

std::int64_t asn1_time_ms(const ASN1_TIME* t) {
  struct tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::string serial_hex(const X509* cert) {
  std::string out;
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return out;
  if (char* hex = BN_bn2hex(bn.get())) {
    out = hex;
    OPENSSL_free(hex);
  }
  return out;
}

CertInfo info_of(X509* cert) {
  CertInfo i;
  std::string why;
  common_name_of(X509_get_subject_name(cert), i.common_name, why);
  i.serial_hex = serial_hex(cert);
  i.sha256_hex = sha256_hex_of(cert);
  i.not_before_ms = asn1_time_ms(X509_get0_notBefore(cert));
  i.not_after_ms = asn1_time_ms(X509_get0_notAfter(cert));
  return i;
}

bool add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (!ext) return false;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"invalid_config", path + ": cannot read"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::string> generate_p256_key() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return Error{"internal", "generating an EC P-256 key: " + openssl_error()};
  BioPtr b(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(b.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Error{"internal", "writing the key: " + openssl_error()};
  return bio_text(b.get());
}

Result<std::string> make_csr(const std::string& key_pem, const std::string& common_name) {
  auto key = read_key(key_pem);
  if (!key) return key.error();
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return Error{"internal", "CSR: " + openssl_error()};
  if (!common_name.empty()) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                   static_cast<int>(common_name.size()), -1, 0) != 1)
      return Error{"invalid_argument", "CSR: common name \"" + common_name + "\": " + openssl_error()};
  }
  if (X509_REQ_set_pubkey(req.get(), key->get()) != 1) return Error{"internal", "CSR: " + openssl_error()};
  // Ed25519 signs without a separate digest.
  const EVP_MD* md = EVP_PKEY_get_id(key->get()) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_REQ_sign(req.get(), key->get(), md) <= 0) return Error{"internal", "CSR: signing: " + openssl_error()};
  BioPtr b(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_REQ(b.get(), req.get()) != 1) return Error{"internal", "CSR: " + openssl_error()};
  return bio_text(b.get());
}

Result<CsrInfo> inspect_csr(std::string_view pem) {
  if (pem.size() > 64 * 1024) return Error{"malformed_csr", "csr: larger than 64 KiB"};
  auto b = mem_bio(pem);
  ReqPtr req(PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr));
  if (!req) {
    ERR_clear_error();
    return Error{"malformed_csr", "csr: not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)"};
  }
  if (!only_space_left(b.get())) return Error{"malformed_csr", "csr: more than one PEM block"};
  CsrInfo info;
  std::string why;
  if (!common_name_of(X509_REQ_get_subject_name(req.get()), info.common_name, why))
    return Error{"malformed_csr", "csr: " + why};
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key) {
    ERR_clear_error();
    return Error{"malformed_csr", "csr: its public key cannot be read"};
  }
  int id = EVP_PKEY_get_base_id(key);
  info.key_bits = EVP_PKEY_get_bits(key);
  if (id == EVP_PKEY_RSA) {
    info.key_type = "RSA";
  } else if (id == EVP_PKEY_EC) {
    info.key_type = "EC";
    char group[80] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
      std::string g(group, len);
      info.curve = g == "prime256v1" ? "P-256" : g == "secp384r1" ? "P-384" : g;
    } else {
      info.curve = "unknown";
    }
  } else if (id == EVP_PKEY_ED25519) {
    info.key_type = "ED25519";
  } else {
    const char* n = OBJ_nid2sn(id);
    info.key_type = n ? n : "unknown";
  }
  info.signature_valid = X509_REQ_verify(req.get(), key) == 1;
  ERR_clear_error();
  return info;
}

Result<CertInfo> inspect_cert(std::string_view pem) {
  auto b = mem_bio(pem);
  CertPtr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return Error{"invalid_certificate", "not a PEM certificate"};
  }
  return info_of(cert.get());
}

Result<CertInfo> inspect_cert_file(const std::string& path) {
  auto text = read_text(path);
  if (!text) return text.error();
  auto info = inspect_cert(*text);
  if (!info) return Error{info.error().code, path + ": " + info.error().message};
  return info;
}

bool key_matches_cert(const std::string& key_pem, const std::string& cert_pem) {
  auto key = read_key(key_pem);
  if (!key) return false;
  auto b = mem_bio(cert_pem);
  CertPtr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  bool ok = cert && X509_check_private_key(cert.get(), key->get()) == 1;
  ERR_clear_error();
  return ok;
}

Result<Ca> Ca::load(const std::string& cert_file, const std::string& key_file) {
  auto cert_text = read_text(cert_file);
  if (!cert_text) return cert_text.error();
  auto key_text = read_text(key_file);
  if (!key_text) return key_text.error();
  auto b = mem_bio(*cert_text);
  CertPtr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!cert) return Error{"invalid_config", cert_file + ": not a PEM certificate (" + openssl_error() + ")"};
  auto key = read_key(*key_text);
  if (!key) return Error{"invalid_config", key_file + ": " + key.error().message};
  if (X509_check_private_key(cert.get(), key->get()) != 1)
    return Error{"invalid_config", key_file + ": not the private key of " + cert_file + " (" + openssl_error() + ")"};
  if (X509_check_ca(cert.get()) == 0) return Error{"invalid_config", cert_file + ": not a CA certificate"};
  Ca ca;
  ca.cert_ = std::shared_ptr<X509>(cert.release(), X509_free);
  ca.key_ = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), ca.cert_.get());
  ca.cert_pem_ = bio_text(out.get());
  return ca;
}

Result<Issued> Ca::sign(std::string_view csr_pem, const std::string& name, std::int64_t now_s,
                        std::int64_t lifetime_s) const {
  auto b = mem_bio(csr_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr));
  if (!req) return Error{"malformed_csr", "csr: " + openssl_error()};
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (!pub) return Error{"malformed_csr", "csr: no public key"};

  CertPtr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) return Error{"internal", "certificate: " + openssl_error()};
  // A random positive 128-bit serial: unique without a counter to keep.
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return Error{"internal", "serial: " + openssl_error()};
  raw[0] &= 0x7f;
  raw[0] |= 0x40;  // never a leading zero byte: the hex form has a fixed length
  BnPtr bn(BN_bin2bn(raw, sizeof raw, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
    return Error{"internal", "serial: " + openssl_error()};
  NamePtr subject(X509_NAME_new());
  if (!subject ||
      X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(name.c_str()), static_cast<int>(name.size()),
                                 -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())) != 1 ||
      X509_set_pubkey(cert.get(), pub) != 1 || !ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(now_s)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(now_s + lifetime_s)))
    return Error{"internal", "certificate: " + openssl_error()};
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), cert.get(), nullptr, nullptr, 0);
  if (!add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), &ctx, NID_ext_key_usage, "clientAuth") ||
      !add_ext(cert.get(), &ctx, NID_subject_alt_name, "DNS:" + name) ||
      !add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash") ||
      !add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"))
    return Error{"internal", "certificate extensions: " + openssl_error()};
  const EVP_MD* md = EVP_PKEY_get_id(key_.get()) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert.get(), key_.get(), md) <= 0) return Error{"internal", "signing: " + openssl_error()};
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(out.get(), cert.get()) != 1) return Error{"internal", "certificate: " + openssl_error()};
  return Issued{bio_text(out.get()), info_of(cert.get())};
}

std::string utc_text(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string sha256_hex_of(const X509* cert) {
  std::string out;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) == 1) {
    static const char* hex = "0123456789abcdef";
    for (unsigned k = 0; k < n; ++k) {
      out += hex[md[k] >> 4];
      out += hex[md[k] & 15];
    }
  }
  return out;
}

}  // namespace c4i::x509
