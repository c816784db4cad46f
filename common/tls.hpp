// TLS contexts for our servers and clients (OpenSSL through Asio), and the
// identity of a verified peer. TLS 1.2 is the floor; TLS 1.2 ciphers are
// limited to ECDHE with AEAD.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/http_types.hpp"
#include "common/result.hpp"

typedef struct ssl_st SSL;

namespace c4i::tls {

enum class ClientCertMode { none, optional, required };

struct ServerTlsOptions {
  std::string cert_file;       // PEM chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM; required unless mode is none
  ClientCertMode client_cert = ClientCertMode::none;
};

struct ClientTlsOptions {
  std::string ca_file;    // PEM bundle to verify the server; empty: system store
  std::string cert_file;  // optional client certificate
  std::string key_file;
  bool verify_server = true;
};

Result<boost::asio::ssl::context> make_server_context(const ServerTlsOptions& o);
Result<boost::asio::ssl::context> make_client_context(const ClientTlsOptions& o);

// The verified peer certificate's identity, or nullopt when the peer sent
// none or it did not verify.
std::optional<http::PeerIdentity> peer_identity(SSL* ssl);

// The first OpenSSL error on this thread's queue, as text (and clears it).
std::string last_openssl_error();

}  // namespace c4i::tls
