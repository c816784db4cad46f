// c4ictl's commands. Each returns the process exit code (terminal.hpp) and
// prints its errors as one line on stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "ctl/api_client.hpp"
#include "ctl/contexts.hpp"

namespace c4i::ctl {

// Options every command takes; they override the chosen context.
struct Globals {
  std::string context;
  std::string server;
  std::string token;
  std::string token_file;
  std::string ca;
  std::string config_path;  // default_config_path() when empty
  bool no_color = false;
};

class Ctl {
 public:
  explicit Ctl(Globals g);
  bool colour() const { return colour_; }
  const std::string& config_path() const { return config_path_; }
  Result<CtlConfig> load_config() const;
  // The server, CA and token: flags, else C4I_TOKEN for the token, else the context.
  Result<Connection> connection() const;
  Result<ApiClient> client() const;

 private:
  Globals g_;
  std::string config_path_;
  bool colour_;
};

struct GetOptions {
  std::string kind;
  std::string name;
  std::string output = "table";  // table | wide | json | yaml | name
  bool watch = false;
};
int cmd_get(const Ctl& ctl, const GetOptions& o);

int cmd_describe(const Ctl& ctl, const std::string& kind, const std::string& name);

struct MoveOptions {
  std::string function;
  std::string node;
  std::string tier;
  bool pin = false;
  bool wait = false;
  int timeout_s = 120;
};
int cmd_move(const Ctl& ctl, const MoveOptions& o);

int cmd_policy_get(const Ctl& ctl, const std::string& output);
int cmd_policy_set(const Ctl& ctl, const std::vector<std::string>& assignments, std::optional<std::int64_t> if_version);
int cmd_policy_apply(const Ctl& ctl, const std::string& file, std::optional<std::int64_t> if_version);
int cmd_policy_edit(const Ctl& ctl);
int cmd_policy_validate(const std::string& file);
int cmd_policy_history(const Ctl& ctl, const std::string& output);
int cmd_policy_diff(const Ctl& ctl, const std::string& file);

int cmd_config_set_context(const Ctl& ctl, const Context& update, bool use);
int cmd_config_use_context(const Ctl& ctl, const std::string& name);
int cmd_config_get_contexts(const Ctl& ctl, const std::string& output);
int cmd_config_current_context(const Ctl& ctl);

// Gateway enrolment (orchestrator/README.md): bootstrap tokens and revocation.
struct TokenCreateOptions {
  std::string ttl = "1h";   // 90s, 30m, 1h, 2d, or whole seconds
  int uses = 1;
  std::string gateway;      // the name the token assigns; empty: the gateway's own
  std::string labels;       // k=v,k2=v2
  std::string output = "token";  // token (the token alone on stdout) | json | yaml
};
int cmd_gateway_token_create(const Ctl& ctl, const TokenCreateOptions& o);
int cmd_gateway_token_list(const Ctl& ctl, const std::string& output);
int cmd_gateway_revoke(const Ctl& ctl, const std::string& name);
// "90s", "30m", "1h", "2d", "1h30m", "3600" -> seconds; nullopt when malformed.
std::optional<std::int64_t> parse_duration_s(const std::string& text);

int cmd_version(const Ctl& ctl, bool client_only, const std::string& output);
int cmd_completion(const std::string& shell);

}  // namespace c4i::ctl
