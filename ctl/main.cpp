// c4ictl: the Cloud4IoT operator CLI over the orchestrator's REST API.
//   c4ictl get nodes|devices|functions|templates|migrations [NAME] [-o table|wide|json|yaml|name] [--watch]
//   c4ictl describe function|migration NAME
//   c4ictl move FUNCTION (--node NODE | --tier gateway|edge|cloud) [--pin] [--wait] [--timeout S]
//   c4ictl policy get|set|apply|edit|validate|history|diff
//   c4ictl config set-context|use-context|get-contexts|current-context
//   c4ictl gateway token create --ttl 1h [--uses N] [--name GW] [--labels k=v,...] | token list | revoke NAME
//   c4ictl version [--client]    c4ictl completion bash|zsh
// Global: --context, --server, --token, --token-file, --ca, --config, --no-color
// Exit codes: 0 ok, 1 the server refused, 2 usage or local file, 3 server unreachable.
#include <iostream>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include "ctl/commands.hpp"
#include "ctl/terminal.hpp"

using namespace c4i::ctl;

int main(int argc, char** argv) {
  CLI::App app{"c4ictl: operate a Cloud4IoT orchestrator (functions, migrations, offload policy)", "c4ictl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may come after the command
  Globals g;
  app.add_option("--context", g.context, "context of the configuration file to use (default: $C4I_CONTEXT, then current_context)");
  app.add_option("--server", g.server, "orchestrator URL https://HOST:PORT (overrides the context)");
  app.add_option("--token", g.token, "bearer token (overrides $C4I_TOKEN and the context)");
  app.add_option("--token-file", g.token_file, "file holding the bearer token");
  app.add_option("--ca", g.ca, "CA certificate (PEM) the server's certificate must chain to");
  app.add_option("--config", g.config_path, "configuration file (default: $C4I_CONFIG, else ~/.config/c4i/config.yaml)");
  app.add_flag("--no-color", g.no_color, "no colours (also when NO_COLOR is set or stdout is not a terminal)");

  // get
  GetOptions get;
  auto* get_cmd = app.add_subcommand("get", "list objects, or show one, as a table, JSON or YAML");
  get_cmd->add_option("kind", get.kind, "nodes, devices, functions, templates or migrations")->required();
  get_cmd->add_option("name", get.name, "one object by name or id");
  get_cmd->add_option("-o,--output", get.output, "table, wide, json, yaml or name")
      ->check(CLI::IsMember({"table", "wide", "json", "yaml", "name"}));
  get_cmd->add_flag("-w,--watch", get.watch, "after listing, print each change as it happens (Ctrl-C to stop)");

  // describe
  std::string describe_kind, describe_name;
  auto* describe_cmd = app.add_subcommand("describe", "everything about a function, or a migration with its timeline");
  describe_cmd->add_option("kind", describe_kind, "function or migration")->required();
  describe_cmd->add_option("name", describe_name, "function id or migration id")->required();

  // move
  MoveOptions move;
  auto* move_cmd = app.add_subcommand("move", "move a function to a node or a tier");
  move_cmd->add_option("function", move.function, "function id")->required();
  auto* node_opt = move_cmd->add_option("--node", move.node, "target node");
  auto* tier_opt = move_cmd->add_option("--tier", move.tier, "target tier")->check(CLI::IsMember({"gateway", "edge", "cloud"}));
  node_opt->excludes(tier_opt);
  move_cmd->add_flag("--pin", move.pin, "pin it there: the placement engine will not move it again");
  move_cmd->add_flag("--wait", move.wait, "follow the migration; exit 0 once started, non-zero naming the step that failed");
  move_cmd->add_option("--timeout", move.timeout_s, "seconds --wait waits (default 120)")->check(CLI::Range(1, 86'400));

  // policy
  auto* policy_cmd = app.add_subcommand("policy", "the offload policy: get, set, apply, edit, validate, history, diff");
  policy_cmd->require_subcommand(1);
  std::string policy_output = "yaml";
  auto* pget = policy_cmd->add_subcommand("get", "print the policy with its version");
  pget->add_option("-o,--output", policy_output, "yaml or json")->check(CLI::IsMember({"yaml", "json"}));
  std::vector<std::string> assignments;
  std::optional<std::int64_t> if_version;
  auto* pset = policy_cmd->add_subcommand("set", "change fields: FIELD=VALUE... (e.g. tiers.gateway.cpu_high=0.9 pinned=fn-a,fn-b)");
  pset->add_option("assignments", assignments, "FIELD=VALUE")->required();
  pset->add_option("--if-version", if_version, "apply only if the server's policy is still this version");
  std::string policy_file;
  auto* papply = policy_cmd->add_subcommand("apply", "replace the policy with a file's (YAML or JSON)");
  papply->add_option("-f,--file", policy_file, "policy file")->required();
  papply->add_option("--if-version", if_version, "apply only if the server's policy is still this version");
  auto* pedit = policy_cmd->add_subcommand("edit", "edit the policy in $EDITOR; an invalid or conflicting save reopens it");
  auto* pvalidate = policy_cmd->add_subcommand("validate", "check a policy file offline, with the orchestrator's own rules");
  pvalidate->add_option("-f,--file", policy_file, "policy file")->required();
  std::string history_output = "table";
  auto* phistory = policy_cmd->add_subcommand("history", "every version: who changed what, and when");
  phistory->add_option("-o,--output", history_output, "table, json or yaml")->check(CLI::IsMember({"table", "json", "yaml"}));
  auto* pdiff = policy_cmd->add_subcommand("diff", "what applying a file would change");
  pdiff->add_option("-f,--file", policy_file, "policy file")->required();

  // config
  auto* config_cmd = app.add_subcommand("config", "contexts: which orchestrator, with which credentials");
  config_cmd->require_subcommand(1);
  Context ctx_update;
  bool use_now = false;
  auto* set_ctx = config_cmd->add_subcommand("set-context", "add or update a context");
  set_ctx->add_option("name", ctx_update.name, "context name")->required();
  // The global --server/--token/--ca name the same things: a set-context reads them.
  set_ctx->add_flag("--use", use_now, "make it the current context");
  std::string use_name;
  auto* use_ctx = config_cmd->add_subcommand("use-context", "make a context the current one");
  use_ctx->add_option("name", use_name, "context name")->required();
  std::string contexts_output = "table";
  auto* get_ctx = config_cmd->add_subcommand("get-contexts", "list the contexts (tokens are never printed)");
  get_ctx->add_option("-o,--output", contexts_output, "table, json, yaml or name")
      ->check(CLI::IsMember({"table", "json", "yaml", "name"}));
  auto* cur_ctx = config_cmd->add_subcommand("current-context", "print the current context's name");

  // gateway: enrolment tokens, revocation
  auto* gateway_cmd = app.add_subcommand("gateway", "gateway enrolment: bootstrap tokens, revocation");
  gateway_cmd->require_subcommand(1);
  auto* gtoken_cmd = gateway_cmd->add_subcommand("token", "bootstrap tokens a new gateway enrols with");
  gtoken_cmd->require_subcommand(1);
  TokenCreateOptions token_create;
  auto* gtoken_create = gtoken_cmd->add_subcommand("create", "make a bootstrap token (printed once)");
  gtoken_create->add_option("--ttl", token_create.ttl, "how long it is valid: 90s, 30m, 1h, 2d (default 1h)");
  gtoken_create->add_option("--uses", token_create.uses, "how many gateways may enrol with it (default 1)")
      ->check(CLI::Range(1, 10'000));
  gtoken_create->add_option("--name", token_create.gateway, "the gateway name it assigns (default: the gateway's own)");
  gtoken_create->add_option("--labels", token_create.labels, "labels of the gateways' nodes: k=v,k2=v2");
  gtoken_create->add_option("-o,--output", token_create.output, "token (the token alone), json or yaml")
      ->check(CLI::IsMember({"token", "json", "yaml"}));
  std::string gtoken_output = "table";
  auto* gtoken_list = gtoken_cmd->add_subcommand("list", "the bootstrap tokens (never the tokens themselves)");
  gtoken_list->add_option("-o,--output", gtoken_output, "table, json or yaml")->check(CLI::IsMember({"table", "json", "yaml"}));
  std::string revoke_name;
  auto* grevoke = gateway_cmd->add_subcommand("revoke", "refuse a gateway's certificates from now on; its node takes no functions");
  grevoke->add_option("name", revoke_name, "gateway name")->required();

  // version, completion
  bool client_only = false;
  std::string version_output = "text";
  auto* version_cmd = app.add_subcommand("version", "client and server versions");
  version_cmd->add_flag("--client", client_only, "the client's only; no connection");
  version_cmd->add_option("-o,--output", version_output, "text, json or yaml")->check(CLI::IsMember({"text", "json", "yaml"}));
  std::string shell;
  auto* completion_cmd = app.add_subcommand("completion", "print a shell completion script: source <(c4ictl completion bash)");
  completion_cmd->add_option("shell", shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "c4ictl: " << e.what() << " (c4ictl --help)\n";
    return kExitUsage;
  }

  if (completion_cmd->parsed()) return cmd_completion(shell);
  if (config_cmd->parsed() && set_ctx->parsed()) {
    ctx_update.server = g.server;
    ctx_update.ca = g.ca;
    ctx_update.token = g.token;
    ctx_update.token_file = g.token_file;
  }
  auto dispatch = [&](Ctl& ctl) -> int {
    if (get_cmd->parsed()) return cmd_get(ctl, get);
    if (describe_cmd->parsed()) return cmd_describe(ctl, describe_kind, describe_name);
    if (move_cmd->parsed()) return cmd_move(ctl, move);
    if (policy_cmd->parsed()) {
      if (pget->parsed()) return cmd_policy_get(ctl, policy_output);
      if (pset->parsed()) return cmd_policy_set(ctl, assignments, if_version);
      if (papply->parsed()) return cmd_policy_apply(ctl, policy_file, if_version);
      if (pedit->parsed()) return cmd_policy_edit(ctl);
      if (pvalidate->parsed()) return cmd_policy_validate(policy_file);
      if (phistory->parsed()) return cmd_policy_history(ctl, history_output);
      if (pdiff->parsed()) return cmd_policy_diff(ctl, policy_file);
    }
    if (config_cmd->parsed()) {
      if (set_ctx->parsed()) return cmd_config_set_context(ctl, ctx_update, use_now);
      if (use_ctx->parsed()) return cmd_config_use_context(ctl, use_name);
      if (get_ctx->parsed()) return cmd_config_get_contexts(ctl, contexts_output);
      if (cur_ctx->parsed()) return cmd_config_current_context(ctl);
    }
    if (gateway_cmd->parsed()) {
      if (gtoken_create->parsed()) return cmd_gateway_token_create(ctl, token_create);
      if (gtoken_list->parsed()) return cmd_gateway_token_list(ctl, gtoken_output);
      if (grevoke->parsed()) return cmd_gateway_revoke(ctl, revoke_name);
    }
    if (version_cmd->parsed()) return cmd_version(ctl, client_only, version_output);
    std::cerr << "c4ictl: no command (c4ictl --help)\n";
    return kExitUsage;
  };
  Ctl ctl(g);
  // A 200 whose JSON has another shape than this c4ictl reads (another
  // program on that port, an orchestrator of another version): one line, not an abort.
  try {
    return dispatch(ctl);
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "error: the server's answer is not what this c4ictl understands (" << e.what()
              << "); is --server an orchestrator of the same version?\n";
    return kExitRefused;
  }
}
