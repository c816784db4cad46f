#include "common/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/x509.hpp"

namespace c4i::tls {

namespace ssl = boost::asio::ssl;

namespace {
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void harden(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                  ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.native_handle(), kTls12Ciphers);
}

template <typename F>
Status guarded(const std::string& what, F&& f) {
  boost::system::error_code ec;
  f(ec);
  if (ec) return Error{"tls_config", what + ": " + ec.message()};
  return ok_status();
}
}  // namespace

std::string last_openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Result<ssl::context> make_server_context(const ServerTlsOptions& o) {
  ssl::context ctx(ssl::context::tls_server);
  harden(ctx);
  // With a verify mode set, OpenSSL refuses to resume a session without a
  // session id context (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED, sent as an
  // internal_error alert): a browser's second connection, which resumes the
  // first one's session, would fail (ERR_SSL_PROTOCOL_ERROR).
  static constexpr unsigned char kSessionIdContext[] = "c4i-server";
  SSL_CTX_set_session_id_context(ctx.native_handle(), kSessionIdContext, sizeof kSessionIdContext - 1);
  if (auto s = guarded(o.cert_file, [&](auto& ec) { ctx.use_certificate_chain_file(o.cert_file, ec); }); !s) return s.error();
  if (auto s = guarded(o.key_file, [&](auto& ec) { ctx.use_private_key_file(o.key_file, ssl::context::pem, ec); }); !s) return s.error();
  if (o.client_cert != ClientCertMode::none) {
    if (o.client_ca_file.empty()) return Error{"tls_config", "client certificates need a CA file"};
    if (auto s = guarded(o.client_ca_file, [&](auto& ec) { ctx.load_verify_file(o.client_ca_file, ec); }); !s) return s.error();
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    auto mode = ssl::verify_peer;
    if (o.client_cert == ClientCertMode::required) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx.set_verify_mode(mode);
  }
  return ctx;
}

Result<ssl::context> make_client_context(const ClientTlsOptions& o) {
  ssl::context ctx(ssl::context::tls_client);
  harden(ctx);
  if (o.verify_server) {
    if (o.ca_file.empty()) {
      ctx.set_default_verify_paths();
    } else if (auto s = guarded(o.ca_file, [&](auto& ec) { ctx.load_verify_file(o.ca_file, ec); }); !s) {
      return s.error();
    }
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (!o.cert_file.empty()) {
    if (auto s = guarded(o.cert_file, [&](auto& ec) { ctx.use_certificate_chain_file(o.cert_file, ec); }); !s) return s.error();
    if (auto s = guarded(o.key_file, [&](auto& ec) { ctx.use_private_key_file(o.key_file, ssl::context::pem, ec); }); !s) return s.error();
  }
  return ctx;
}

std::optional<http::PeerIdentity> peer_identity(SSL* s) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(s), X509_free);
  if (!cert || SSL_get_verify_result(s) != X509_V_OK) return std::nullopt;
  http::PeerIdentity id;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) > 0)
    id.common_name = cn;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS) {
        const unsigned char* data = ASN1_STRING_get0_data(n->d.dNSName);
        id.dns_names.emplace_back(reinterpret_cast<const char*>(data), ASN1_STRING_length(n->d.dNSName));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert.get()), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      id.serial_hex = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  id.sha256_hex = x509::sha256_hex_of(cert.get());
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(bio, X509_get0_notAfter(cert.get())) == 1) {
      char* p = nullptr;
      long n = BIO_get_mem_data(bio, &p);
      if (n > 0) id.not_after.assign(p, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  return id;
}

}  // namespace c4i::tls
