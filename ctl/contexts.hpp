// c4ictl's configuration: named contexts (server, CA, token or token file) in
// ~/.config/c4i/config.yaml, as kubectl keeps them in ~/.kube/config:
//
//   current_context: lab
//   contexts:
//     - name: lab
//       server: https://127.0.0.1:8443
//       ca: /etc/c4i/ca.pem          # absent: the system store
//       token_file: /etc/c4i/token   # or token: <the token itself>
//
// Parsing and choosing are pure (errors name file:line and field through
// common/config.hpp); reading and writing the file is the binary's job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"

namespace c4i::ctl {

struct Context {
  std::string name;
  std::string server;      // https://host:port
  std::string ca;          // PEM file
  std::string token;
  std::string token_file;  // one line: the token
};

struct CtlConfig {
  std::string current_context;
  std::vector<Context> contexts;
  const Context* find(const std::string& name) const;
};

Result<CtlConfig> parse_ctl_config(const config::Node& root);
// A document parse_ctl_config reads back to the same contexts.
std::string ctl_config_to_yaml(const CtlConfig& cfg);

// The context to use: the --context flag, else C4I_CONTEXT, else
// current_context. Error "invalid_argument" when a named one is missing (the
// message lists the known names); nullopt when nothing names any context.
Result<std::optional<Context>> select_context(const CtlConfig& cfg, const std::string& flag, const std::string& env);

// Adds or updates context `update.name`: the non-empty fields of `update`
// replace the stored ones; a token replaces a token_file and the other way
// round. Returns true when the context is new.
bool upsert_context(CtlConfig& cfg, const Context& update);

struct ServerAddress {
  std::string host;
  std::uint16_t port = 443;
};
// "https://host[:port][/]", "https://[::1]:8443". Error "invalid_argument".
Result<ServerAddress> parse_server_url(const std::string& url);

}  // namespace c4i::ctl
