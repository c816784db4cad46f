// Request and Response as the handlers see them: plain values, no Beast types,
// so routing and handlers can be tested and fuzzed without sockets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace c4i::http {

// Identity of a TLS client, from a certificate the server verified.
struct PeerIdentity {
  std::string common_name;
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  std::string serial_hex;
  std::string sha256_hex;              // fingerprint of the DER encoding, lowercase
  std::string not_after;                // as OpenSSL prints it
  // True when `name` is the certificate's CN or one of its DNS SANs.
  bool names(const std::string& name) const;
};

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw target, with query string
  std::string path;     // decoded path, without query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lowercased
  std::map<std::string, std::string> params;   // from the route pattern
  std::string body;
  std::optional<PeerIdentity> peer;  // set when a client certificate was verified
  std::string remote_address;

  const std::string* header(const std::string& lowercase_name) const;
  const std::string* param(const std::string& name) const;
  const std::string* query_value(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // ask the server to close the connection after this one
};

// {"error":{"code":...,"message":...}} with the given status.
Response error_response(int status, const std::string& code, const std::string& message);
Response json_response(int status, const nlohmann::json& body);

// Splits "a=1&b=x%20y" into a map (percent-decoding, '+' as space).
// Returns false when an escape is malformed or a name or value is not UTF-8.
bool parse_query(const std::string& query, std::map<std::string, std::string>& out);
// Percent-decodes a path; false on a malformed escape, a decoded NUL or bytes that are not UTF-8.
bool percent_decode(const std::string& in, std::string& out, bool plus_as_space = false);

const char* reason_phrase(int status);

}  // namespace c4i::http
