// `c4ictl completion bash|zsh`: the scripts. Names of objects are completed by
// asking the orchestrator (`c4ictl get KIND -o name`), silently: a completion
// never prints an error into the operator's command line.
#include <iostream>
#include <string>

#include "ctl/commands.hpp"
#include "ctl/terminal.hpp"

namespace c4i::ctl {

namespace {
const char* const kBash = R"BASH(# bash completion for c4ictl: source <(c4ictl completion bash)
_c4ictl_names() {
  c4ictl "$@" 2>/dev/null
}
_c4ictl() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local -a args=()
  local i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      --context|--server|--token|--token-file|--ca|--config|-o|--output|--node|--tier|--timeout|-f|--file|--if-version|--ttl|--uses|--name|--labels) ((i++)) ;;
      -*) ;;
      *) args+=("${COMP_WORDS[i]}") ;;
    esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml name" -- "$cur")); return ;;
    --tier) COMPREPLY=($(compgen -W "gateway edge cloud" -- "$cur")); return ;;
    --node) COMPREPLY=($(compgen -W "$(_c4ictl_names get nodes -o name)" -- "$cur")); return ;;
    --context) COMPREPLY=($(compgen -W "$(_c4ictl_names config get-contexts -o name)" -- "$cur")); return ;;
    -f|--file|--ca|--token-file|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    words="--context --server --token --token-file --ca --config --no-color --help"
    case "${args[0]}" in
      get) words+=" --output --watch" ;;
      move) words+=" --node --tier --pin --wait --timeout" ;;
      policy) case "${args[1]}" in
                set) words+=" --if-version" ;;
                apply) words+=" --file --if-version" ;;
                validate|diff) words+=" --file" ;;
                get|history) words+=" --output" ;;
              esac ;;
      config) [[ "${args[1]}" == set-context ]] && words+=" --use" ;;
      version) words+=" --client --output" ;;
      gateway) [[ "${args[1]}" == token ]] && case "${args[2]}" in
                 create) words+=" --ttl --uses --name --labels --output" ;;
                 list) words+=" --output" ;;
               esac ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return
  fi
  case "${#args[@]}" in
    0) words="get describe move policy config gateway version completion" ;;
    1) case "${args[0]}" in
         get) words="nodes devices functions templates migrations" ;;
         describe) words="function migration" ;;
         move) words="$(_c4ictl_names get functions -o name)" ;;
         policy) words="get set apply edit validate history diff" ;;
         config) words="set-context use-context get-contexts current-context" ;;
         completion) words="bash zsh" ;;
         gateway) words="token revoke" ;;
       esac ;;
    *) case "${args[0]}" in
         get) [[ ${#args[@]} -eq 2 ]] && words="$(_c4ictl_names get "${args[1]}" -o name)" ;;
         describe) [[ ${#args[@]} -eq 2 ]] && case "${args[1]}" in
                     function*|fn) words="$(_c4ictl_names get functions -o name)" ;;
                     migration*|mig) words="$(_c4ictl_names get migrations -o name)" ;;
                   esac ;;
         gateway) if [[ "${args[1]}" == token && ${#args[@]} -eq 2 ]]; then words="create list"
                  elif [[ "${args[1]}" == revoke && ${#args[@]} -eq 2 ]]; then words="$(_c4ictl_names get nodes -o name)"; fi ;;
         config) [[ "${args[1]}" == use-context && ${#args[@]} -eq 2 ]] && words="$(_c4ictl_names config get-contexts -o name)" ;;
         policy) if [[ "${args[1]}" == set ]]; then
                   local t f
                   for t in gateway edge cloud; do for f in cpu_high cpu_low mem_high mem_low; do words+=" tiers.$t.$f="; done; done
                   words+=" cooldown_s= max_moves_per_minute= pinned= lost_after_s= on_lost= rssi_threshold_dbm= hysteresis_db= roam_margin_db= node_stale_after_s="
                   compopt -o nospace 2>/dev/null
                 fi ;;
       esac ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _c4ictl c4ictl
)BASH";
}  // namespace

int cmd_completion(const std::string& shell) {
  if (shell == "zsh") {
    // zsh runs the bash function through bashcompinit (zsh's own bash
    // completion emulation), so both shells complete the same way.
    std::cout << "#compdef c4ictl\n"
                 "# zsh completion for c4ictl: source <(c4ictl completion zsh)\n"
                 "autoload -U +X compinit && compinit\n"
                 "autoload -U +X bashcompinit && bashcompinit\n"
              << kBash;
    return kExitOk;
  }
  std::cout << kBash;
  return kExitOk;
}

}  // namespace c4i::ctl
