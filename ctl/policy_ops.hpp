// Policy operations of `c4ictl policy`: reading a policy file, FIELD=VALUE
// assignments, the `edit` buffer, and diffs. Validation is the placement
// engine's own (placement/placement.hpp), the very code the orchestrator runs
// on PUT /v1/policy, so a file that passes `policy validate` offline passes on
// the server, and an error names the same field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "placement/placement.hpp"

namespace c4i::ctl {

// A policy document: YAML (JSON is YAML too), the policy at the root or under
// "policy:" beside "version:" (what `policy get -o yaml|json` prints).
// `name` is how errors call the file. Errors: "invalid_config" (syntax, with
// the line) and "invalid_policy"/"invalid_config" naming the field and line.
Result<placement::Policy> policy_from_document(const std::string& text, const std::string& name);

// Applies assignments such as "tiers.gateway.cpu_high=0.9", "on_lost=keep",
// "pinned=fn-a,fn-b", "templates.omh.tiers=[edge,cloud]", "templates.omh=null"
// (removes it) to `base`, then validates the whole policy. VALUE is read as a
// YAML scalar or flow sequence; a list field also takes a comma list. Errors:
// "invalid_argument" (no '=', unknown field: the message names it and lists
// the known ones), or the engine's "invalid_policy".
Result<placement::Policy> apply_assignments(const placement::Policy& base, const std::vector<std::string>& assignments);

// The text `policy edit` opens: the policy as YAML under a comment header
// (what to do, the version being edited), and, after a failed attempt, the
// errors at the very top, as `kubectl edit` does.
std::string edit_buffer(const std::string& policy_yaml, std::int64_t version, const std::vector<std::string>& errors);
// `text` without comment lines, trailing spaces and blank lines: what decides
// whether an edit changed anything.
std::string strip_comments(const std::string& text);

// A unified diff (3 lines of context, "---"/"+++" headers naming the sides);
// empty when the texts are equal.
std::string unified_diff(const std::string& a, const std::string& b, const std::string& a_name,
                         const std::string& b_name);

}  // namespace c4i::ctl
