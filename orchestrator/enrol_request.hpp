// The outside bytes of gateway enrolment, checked before anything is stored:
// the body of POST /v1/enrol and /v1/enrol/renew, the CSR in it (its key, its
// signature, its name), and which name the certificate gets. No I/O, no
// state: fuzzed (tests/fuzz/enrol_request_fuzz.cpp). Error codes, each a 4xx
// (enrolment.cpp): invalid_json, invalid_argument, unauthenticated,
// malformed_csr, bad_csr_signature, weak_key, invalid_name, name_mismatch.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/x509.hpp"

namespace c4i::orchestrator {

inline constexpr std::size_t kMaxCsrBytes = 16 * 1024;

struct EnrolBody {
  std::string token;    // the bootstrap token (empty for a renewal)
  std::string csr_pem;
};
// {"csr": PEM, "token": T}; the token may come as `Authorization: Bearer T`
// instead. With `token_required` false (renewal) a token is refused.
Result<EnrolBody> parse_enrol_body(std::string_view body, const std::string* authorization, bool token_required);

// A gateway name is a path segment and a DNS name: 1..63 of [a-z0-9-.],
// starting and ending with a letter or digit.
bool valid_gateway_name(std::string_view name);

// The CSR parses, is signed by its own key, and the key is strong enough:
// RSA of 2048 bits or more, EC on P-256 or P-384, or Ed25519.
Result<x509::CsrInfo> check_csr(std::string_view pem);

// The certificate's name: the one the token assigns (the CSR must then name
// it or nothing), else the CSR's common name.
Result<std::string> certificate_name(const x509::CsrInfo& csr, const std::string& assigned);

}  // namespace c4i::orchestrator
