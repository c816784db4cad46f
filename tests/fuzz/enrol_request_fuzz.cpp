// Fuzzes what a host that reaches the orchestrator sends to enrol or renew
// (orchestrator/enrol_request.hpp): the JSON body, the CSR in it, and the
// name the certificate would get. Never crash, and what is accepted keeps the
// invariants enrolment.cpp relies on: a CSR of bounded size, a token when one
// is required, a strong key with a verified signature, a valid gateway name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "orchestrator/enrol_request.hpp"

namespace {

using namespace c4i::orchestrator;

void check_name(const c4i::x509::CsrInfo& csr) {
  if (auto n = certificate_name(csr, ""); n && !valid_gateway_name(*n)) std::abort();
  if (auto n = certificate_name(csr, "gw-1"); n && *n != "gw-1") std::abort();
}

void check_csr_text(std::string_view pem) {
  auto info = check_csr(pem);
  if (!info) return;
  if (!info->signature_valid) std::abort();
  if (info->key_type == "RSA" && info->key_bits < 2048) std::abort();
  if (info->key_type == "EC" && info->curve != "P-256" && info->curve != "P-384") std::abort();
  if (info->key_type != "RSA" && info->key_type != "EC" && info->key_type != "ED25519") std::abort();
  check_name(*info);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The input as a whole body, with and without a bearer header, as an
  // enrolment and as a renewal.
  static const std::string bearer = "Bearer bt-0123456789.abcdef";
  for (bool required : {true, false}) {
    for (const std::string* auth : {static_cast<const std::string*>(nullptr), &bearer}) {
      auto b = parse_enrol_body(in, auth, required);
      if (!b) continue;
      if (b->csr_pem.empty() || b->csr_pem.size() > kMaxCsrBytes) std::abort();
      if (required && b->token.empty()) std::abort();
      if (!required && !b->token.empty()) std::abort();
      if (required && auth == nullptr) check_csr_text(b->csr_pem);  // once per input is enough
    }
  }
  // And the input as the CSR itself (mutations inside the PEM and DER).
  check_csr_text(in);
  // The first line as a gateway name.
  std::string_view line = in.substr(0, in.find('\n'));
  if (valid_gateway_name(line)) {
    if (line.empty() || line.size() > 63) std::abort();
  }
  return 0;
}
