#include "orchestrator/enrol_request.hpp"

#include <nlohmann/json.hpp>

namespace c4i::orchestrator {

using nlohmann::json;

namespace {
std::string quote_field(std::string_view s) {
  json j = std::string(s.substr(0, 64));
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

Result<EnrolBody> parse_enrol_body(std::string_view body, const std::string* authorization, bool token_required) {
  if (body.empty()) return Error{"invalid_argument", "(body): a JSON object with csr is required"};
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Error{"invalid_json", "(body): not valid JSON"};
  if (!j.is_object()) return Error{"invalid_argument", "(body): must be a JSON object"};
  EnrolBody out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "csr") {
      if (!it->is_string()) return Error{"invalid_argument", "csr: must be a PEM string"};
      out.csr_pem = it->get<std::string>();
      if (out.csr_pem.size() > kMaxCsrBytes)
        return Error{"malformed_csr", "csr: longer than " + std::to_string(kMaxCsrBytes) + " bytes"};
    } else if (it.key() == "token" && token_required) {
      if (!it->is_string() || it->get<std::string>().empty()) return Error{"invalid_argument", "token: must be a non-empty string"};
      out.token = it->get<std::string>();
    } else {
      return Error{"invalid_argument", quote_field(it.key()) + ": unknown field (expected csr" +
                                           std::string(token_required ? ", token" : "") + ")"};
    }
  }
  if (out.csr_pem.empty()) return Error{"invalid_argument", "csr: is required (a PEM certificate signing request)"};
  if (!token_required) return out;
  if (authorization) {
    constexpr std::string_view kBearer = "Bearer ";
    std::string_view a(*authorization);
    if (a.size() <= kBearer.size() || a.substr(0, kBearer.size()) != kBearer)
      return Error{"unauthenticated", "Authorization: must be \"Bearer <bootstrap token>\""};
    std::string header_token(a.substr(kBearer.size()));
    if (!out.token.empty() && out.token != header_token)
      return Error{"invalid_argument", "token: the body and the Authorization header carry different tokens"};
    out.token = header_token;
  }
  if (out.token.empty())
    return Error{"unauthenticated", "token: a bootstrap token is required (body field token, or Authorization: Bearer)"};
  return out;
}

bool valid_gateway_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back());
}

Result<x509::CsrInfo> check_csr(std::string_view pem) {
  auto info = x509::inspect_csr(pem);
  if (!info) return info.error();
  if (!info->signature_valid)
    return Error{"bad_csr_signature", "csr: its signature does not verify with its own public key"};
  if (info->key_type == "RSA") {
    if (info->key_bits < 2048)
      return Error{"weak_key", "csr: an RSA key of " + std::to_string(info->key_bits) + " bits is too weak (2048 or more)"};
  } else if (info->key_type == "EC") {
    if (info->curve != "P-256" && info->curve != "P-384")
      return Error{"weak_key", "csr: EC curve " + info->curve + " is not accepted (P-256 or P-384)"};
  } else if (info->key_type != "ED25519") {
    return Error{"weak_key", "csr: a " + info->key_type + " key is not accepted (RSA >= 2048, EC P-256/P-384, Ed25519)"};
  }
  return info;
}

Result<std::string> certificate_name(const x509::CsrInfo& csr, const std::string& assigned) {
  if (!assigned.empty()) {
    if (!csr.common_name.empty() && csr.common_name != assigned)
      return Error{"name_mismatch", "csr: names gateway " + quote_field(csr.common_name) + " but the token is for gateway " +
                                        quote_field(assigned)};
    return assigned;
  }
  if (csr.common_name.empty())
    return Error{"invalid_name", "csr: has no common name and the token assigns none (CN=<gateway name>)"};
  if (!valid_gateway_name(csr.common_name))
    return Error{"invalid_name", "csr: common name " + quote_field(csr.common_name) +
                                     " is not a gateway name (1-63 of a-z 0-9 - ., starting and ending with a letter or digit)"};
  return csr.common_name;
}

}  // namespace c4i::orchestrator
