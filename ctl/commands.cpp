#include "ctl/commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include "ctl/policy_ops.hpp"
#include "ctl/render.hpp"
#include "ctl/terminal.hpp"
#include "placement/placement.hpp"

namespace c4i::ctl {

using nlohmann::json;
namespace pl = c4i::placement;
namespace fs = std::filesystem;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Error usage(std::string message) { return Error{"usage", std::move(message)}; }

// The key of an object of `kind` as the API names it in paths and changes.
std::string key_of(const std::string& kind, const json& obj) {
  const char* field = kind == "nodes" || kind == "templates" ? "name" : "id";
  auto it = obj.find(field);
  if (it == obj.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string trim_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  auto b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b);
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

// Reads the policy the server holds: its version and value.
struct ServerPolicy {
  std::int64_t version = 0;
  pl::Policy policy;
  json raw;  // the whole answer: version, policy, changed_t, changed_by
};

Result<ServerPolicy> fetch_policy(ApiClient& api) {
  auto r = api.get("/v1/policy");
  if (!r) return r.error();
  if (!r->is_object() || !(*r)["version"].is_number_integer() || !(*r)["policy"].is_object())
    return Error{"refused", "the server's policy answer has no version or policy"};
  auto p = pl::policy_from_json((*r)["policy"]);
  if (!p) return Error{"refused", "the server's policy does not validate here: " + p.error().message +
                                      " (is this c4ictl older than the orchestrator?)"};
  return ServerPolicy{(*r)["version"].get<std::int64_t>(), *p, *r};
}

// PUT /v1/policy replacing `version`. A 409 (someone changed the policy since
// it was read) becomes one message saying who and what to do.
Result<json> put_policy(ApiClient& api, const pl::Policy& p, std::int64_t version) {
  auto r = api.call("PUT", "/v1/policy", pl::to_json(p).dump(), {{"If-Match", "\"" + std::to_string(version) + "\""}});
  if (!r) return r.error();
  if (r->status == 200) return r->body;
  if (r->status == 409) {
    std::string now;
    if (auto cur = api.get("/v1/policy"); cur && cur->is_object()) {
      now = "; it is now version " + std::to_string(cur->value("version", 0LL)) + ", changed by " + cur->value("changed_by", "?");
      if ((*cur)["changed_t"].is_number()) now += " at " + format_time((*cur)["changed_t"].get<std::int64_t>());
    }
    return Error{"refused", "conflict: the policy was changed on the server after version " + std::to_string(version) +
                                " was read" + now + ". Nothing was applied; review the change (c4ictl policy history) and retry."};
  }
  return ApiClient::refused(*r);
}

void print_policy_change(const json& before, const json& after_answer) {
  std::int64_t v = after_answer.value("version", 0LL);
  auto changes = json_changes(before, after_answer.value("policy", json::object()));
  std::cout << "policy updated to version " << v << "\n";
  for (const auto& c : changes) std::cout << "  " << c << "\n";
}

// --- output of get

int print_items(const std::string& kind, const std::vector<json>& items, const std::string& output, bool colour) {
  if (output == "json") {
    print_json(json{{"items", items}});
  } else if (output == "yaml") {
    std::cout << to_yaml(json{{"items", items}});
  } else if (output == "name") {
    for (const auto& i : items) std::cout << key_of(kind, i) << "\n";
  } else {
    if (items.empty()) {
      std::cerr << "No " << kind << " found.\n";
      return kExitOk;
    }
    std::cout << make_table(kind, items, output == "wide", now_ms()).render(colour);
  }
  return kExitOk;
}

int print_one(const std::string& kind, const json& obj, const std::string& output, bool colour) {
  if (output == "json") print_json(obj);
  else if (output == "yaml") std::cout << to_yaml(obj);
  else if (output == "name") std::cout << key_of(kind, obj) << "\n";
  else std::cout << make_table(kind, {obj}, output == "wide", now_ms()).render(colour);
  return kExitOk;
}

std::string url_segment(const std::string& s) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- Ctl

Ctl::Ctl(Globals g) : g_(std::move(g)) {
  config_path_ = g_.config_path.empty() ? default_config_path() : g_.config_path;
  colour_ = !g_.no_color && colour_enabled(1);
}

Result<CtlConfig> Ctl::load_config() const {
  std::error_code ec;
  if (!fs::exists(config_path_, ec)) return CtlConfig{};
  auto root = config::load_file(config_path_);
  if (!root) return Error{"local_file", root.error().message};
  auto cfg = parse_ctl_config(*root);
  if (!cfg) return Error{"local_file", cfg.error().message};
  return cfg;
}

Result<Connection> Ctl::connection() const {
  std::optional<Context> ctx;
  // The configuration matters only when a flag leaves something to it.
  bool need_config = g_.server.empty() || (g_.token.empty() && g_.token_file.empty()) || !g_.context.empty();
  if (need_config) {
    auto cfg = load_config();
    if (!cfg) return cfg.error();
    const char* env = std::getenv("C4I_CONTEXT");
    auto sel = select_context(*cfg, g_.context, env ? env : "");
    if (!sel) return usage(sel.error().message);
    ctx = *sel;
  }
  Connection c;
  c.server = !g_.server.empty() ? g_.server : ctx ? ctx->server : "";
  if (c.server.empty())
    return usage("no server: give --server https://HOST:PORT or create a context (c4ictl config set-context NAME --server ... --use); "
                 "configuration file " + config_path_);
  auto addr = parse_server_url(c.server);
  if (!addr) return usage((g_.server.empty() ? "context " + ctx->name + ": " : "--") + addr.error().message);
  c.address = *addr;
  c.ca_file = !g_.ca.empty() ? g_.ca : ctx ? ctx->ca : "";
  if (!c.ca_file.empty() && !fs::exists(c.ca_file)) return Error{"local_file", "CA file " + c.ca_file + " does not exist"};
  std::string token_file;
  const char* env_token = std::getenv("C4I_TOKEN");
  if (!g_.token.empty()) c.token = g_.token;
  else if (!g_.token_file.empty()) token_file = g_.token_file;
  else if (env_token && *env_token) c.token = env_token;
  else if (ctx && !ctx->token.empty()) c.token = ctx->token;
  else if (ctx) token_file = ctx->token_file;
  if (!token_file.empty()) {
    auto text = read_text_file(token_file);
    if (!text) return Error{"local_file", "token file " + text.error().message};
    c.token = trim_line(text->substr(0, text->find('\n')));
    if (c.token.empty()) return Error{"local_file", "token file " + token_file + " is empty"};
  }
  return c;
}

Result<ApiClient> Ctl::client() const {
  auto c = connection();
  if (!c) return c.error();
  return ApiClient(*c);
}

// ---------------------------------------------------------------- get

int cmd_get(const Ctl& ctl, const GetOptions& o) {
  std::string kind = canonical_kind(o.kind);
  if (kind.empty())
    return report(usage("get: unknown kind \"" + o.kind + "\" (expected nodes, devices, functions, templates or migrations)"));
  auto api = ctl.client();
  if (!api) return report(api.error());
  std::vector<json> items;
  if (!o.name.empty()) {
    auto one = api->get("/v1/" + kind + "/" + url_segment(o.name));
    if (!one) return report(one.error());
    if (!o.watch) return print_one(kind, *one, o.output, ctl.colour());
    items.push_back(*one);
  } else {
    auto all = api->list_all(kind);
    if (!all) return report(all.error());
    items = std::move(*all);
    if (!o.watch) return print_items(kind, items, o.output, ctl.colour());
  }

  // --watch: what there is now, then each change as it happens.
  bool table = o.output == "table" || o.output == "wide";
  Table first = make_table(kind, items, o.output == "wide", now_ms());
  std::vector<std::size_t> widths = first.widths();
  auto emit_object = [&](const std::string& op, const json& obj, const std::string& id) {
    if (table) {
      if (op == "deleted") {
        std::cout << paint(id + " deleted", Colour::grey, ctl.colour()) << "\n";
      } else {
        Table t = make_table(kind, {obj}, o.output == "wide", now_ms());
        std::cout << t.render_rows(ctl.colour(), widths);
      }
    } else if (o.output == "json") {
      std::cout << json{{"type", op}, {"object", obj.is_null() ? json{{"id", id}} : obj}}.dump() << "\n";
    } else if (o.output == "yaml") {
      std::cout << "---\n" << to_yaml(json{{"type", op}, {"object", obj.is_null() ? json{{"id", id}} : obj}});
    } else {
      std::cout << id << "\n";
    }
    std::cout.flush();
  };
  if (table) {
    std::cout << first.render(ctl.colour());
  } else {
    for (const auto& i : items) emit_object("existing", i, key_of(kind, i));
  }
  std::cout.flush();
  auto st = api->watch(kind, [&](const SseEvent& e) {
    if (e.event == "reset") {
      // The server dropped changes we had not read: list again.
      auto again = o.name.empty() ? api->list_all(kind) : Result<std::vector<json>>(std::vector<json>{});
      if (again)
        for (const auto& i : *again) emit_object("existing", i, key_of(kind, i));
      return true;
    }
    if (e.event != kind) return true;
    json d = json::parse(e.data, nullptr, false);
    if (!d.is_object()) return true;
    std::string id = d["id"].is_string() ? d["id"].get<std::string>() : d["id"].dump();
    if (!o.name.empty() && id != o.name) return true;
    emit_object(d.value("op", "updated"), d.value("object", json()), id);
    return true;
  });
  if (!st) return report(st.error());
  return kExitOk;
}

// ---------------------------------------------------------------- describe

int cmd_describe(const Ctl& ctl, const std::string& kind_word, const std::string& name) {
  std::string kind = canonical_kind(kind_word);
  if (kind != "functions" && kind != "migrations")
    return report(usage("describe: expected function or migration, got \"" + kind_word + "\""));
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto obj = api->get("/v1/" + kind + "/" + url_segment(name));
  if (!obj) return report(obj.error());
  if (kind == "migrations") {
    std::cout << describe_migration(*obj, now_ms(), ctl.colour());
    return kExitOk;
  }
  auto migs = api->list_all("migrations", "function=" + url_segment(name));
  if (!migs) return report(migs.error());
  constexpr std::size_t kLatest = 10;
  std::vector<json> latest(migs->size() > kLatest ? migs->end() - kLatest : migs->begin(), migs->end());
  std::cout << describe_function(*obj, latest, now_ms(), ctl.colour());
  return kExitOk;
}

// ---------------------------------------------------------------- move

int cmd_move(const Ctl& ctl, const MoveOptions& o) {
  if (o.node.empty() == o.tier.empty()) return report(usage("move: give exactly one of --node and --tier"));
  auto api = ctl.client();
  if (!api) return report(api.error());
  json body = o.node.empty() ? json{{"tier", o.tier}} : json{{"node", o.node}};
  if (o.pin) body["pin"] = true;
  auto r = api->call("POST", "/v1/functions/" + url_segment(o.function) + ":move", body.dump());
  if (!r) return report(r.error());
  if (r->status / 100 != 2) return report(ApiClient::refused(*r));
  const json& m = r->body;
  std::string id = m.contains("id") ? m["id"].dump() : "?";
  std::string target = o.node.empty() ? "tier " + o.tier : o.node;
  std::cout << "migration " << id << ": moving " << o.function << " from "
            << (m.value("from", json()).is_string() ? m["from"].get<std::string>() : std::string("-")) << " to " << target
            << (o.pin ? " (pinned)" : "") << "\n";
  if (!o.wait) return kExitOk;

  // Follow it: the watch stream for changes, and one read once the stream is
  // open so nothing that happened before it is missed.
  auto reader = ctl.client();
  if (!reader) return report(reader.error());
  static const char* steps[] = {"detected", "notified", "decided", "applied", "scheduled", "started", "first_data"};
  std::set<std::string> printed;
  std::optional<std::int64_t> last_at;
  std::optional<int> result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  json last = m;
  auto consider = [&](const json& mig) {
    last = mig;
    json tl = mig.value("timeline", json::object());
    for (const char* s : steps) {
      if (printed.count(s) || !tl.is_object() || !tl[s].is_number()) continue;
      std::int64_t at = tl[s].get<std::int64_t>();
      std::string line = "  " + std::string(s) + std::string(12 - std::string(s).size(), ' ') + format_time(at);
      if (last_at) line += "   +" + format_gap(at - *last_at);
      std::cout << line << "\n";
      printed.insert(s);
      last_at = at;
    }
    std::cout.flush();
    std::string state = mig.value("state", "");
    if (tl.is_object() && tl["started"].is_number()) {
      std::string node = mig.value("to", json::object()).value("node", json()).is_string()
                             ? mig["to"]["node"].get<std::string>() : std::string();
      std::int64_t total = tl["decided"].is_number() ? tl["started"].get<std::int64_t>() - tl["decided"].get<std::int64_t>() : 0;
      std::cout << paint("migration " + id + " started" + (node.empty() ? "" : " on " + node), Colour::green, ctl.colour())
                << " (decided -> started " << format_gap(total) << ")\n";
      result = kExitOk;
    } else if (state == "failed") {
      json f = mig.value("failure", json::object());
      std::string retry;
      if (mig["next_retry_t"].is_number()) retry = "; the orchestrator retries at " + format_time(mig["next_retry_t"].get<std::int64_t>());
      result = report(Error{"refused", "migration " + id + " failed at step " + (f.is_object() ? f.value("step", "?") : "?") + ": " +
                                           (f.is_object() ? f.value("error", "?") : "?") + retry});
    } else if (state == "superseded" || state == "cancelled") {
      result = report(Error{"refused", "migration " + id + " was " + state + " before its function started"});
    } else if (state == "done") {
      result = kExitOk;
    }
    return result.has_value();
  };
  auto st = api->watch(
      "migrations",
      [&](const SseEvent& e) {
        if (e.event == "migrations") {
          json d = json::parse(e.data, nullptr, false);
          json eid = d.is_object() ? d.value("id", json()) : json();
          std::string event_id = eid.is_string() ? eid.get<std::string>() : eid.dump();  // the API sends ids as strings
          if (event_id == id && d["object"].is_object() && consider(d["object"])) return false;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        return true;
      },
      [&] {
        auto cur = reader->get("/v1/migrations/" + id);
        if (!cur) {
          result = report(cur.error());
          return false;
        }
        return !consider(*cur);
      },
      [&] { return std::chrono::steady_clock::now() < deadline; },
      [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()); });
  if (!st) return report(st.error());
  if (result) return *result;
  std::string reached = "none";
  for (const char* s : steps)
    if (printed.count(s)) reached = s;
  return report(Error{"refused", "migration " + id + " did not start within " + std::to_string(o.timeout_s) +
                                     "s (last step reached: " + reached + ", state " + last.value("state", "?") + ")"});
}

// ---------------------------------------------------------------- policy

int cmd_policy_get(const Ctl& ctl, const std::string& output) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto p = api->get("/v1/policy");
  if (!p) return report(p.error());
  if (output == "json") print_json(*p);
  else std::cout << to_yaml(*p);
  return kExitOk;
}

int cmd_policy_set(const Ctl& ctl, const std::vector<std::string>& assignments, std::optional<std::int64_t> if_version) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto cur = fetch_policy(*api);
  if (!cur) return report(cur.error());
  auto next = apply_assignments(cur->policy, assignments);
  if (!next) return report(usage(next.error().message));
  if (*next == cur->policy && !if_version) {
    std::cout << "policy unchanged (version " << cur->version << ")\n";
    return kExitOk;
  }
  auto r = put_policy(*api, *next, if_version.value_or(cur->version));
  if (!r) return report(r.error());
  print_policy_change(cur->raw["policy"], *r);
  return kExitOk;
}

int cmd_policy_apply(const Ctl& ctl, const std::string& file, std::optional<std::int64_t> if_version) {
  auto text = read_text_file(file);
  if (!text) return report(text.error());
  auto p = policy_from_document(*text, file);
  if (!p) return report(usage(p.error().message));
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto cur = fetch_policy(*api);
  if (!cur) return report(cur.error());
  if (*p == cur->policy && !if_version) {
    std::cout << "policy unchanged (version " << cur->version << ")\n";
    return kExitOk;
  }
  auto r = put_policy(*api, *p, if_version.value_or(cur->version));
  if (!r) return report(r.error());
  print_policy_change(cur->raw["policy"], *r);
  return kExitOk;
}

int cmd_policy_edit(const Ctl& ctl) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto cur = fetch_policy(*api);
  if (!cur) return report(cur.error());
  char tmpl[] = "/tmp/c4ictl-policy-XXXXXX.yaml";
  int fd = mkstemps(tmpl, 5);
  if (fd < 0) return report(Error{"local_file", "cannot create a temporary file in /tmp"});
  close(fd);
  std::string path = tmpl;
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } cleanup{path};

  std::int64_t version = cur->version;
  json base_json = pl::to_json(cur->policy);
  std::string original = pl::policy_to_yaml(cur->policy);
  std::string content = original;
  std::vector<std::string> errors;
  std::optional<Error> last_error;
  std::string last_attempt;  // what the operator saved last time, without comments
  bool last_was_conflict = false;
  while (true) {
    if (auto w = write_text_file(path, edit_buffer(content, version, errors), true); !w) return report(w.error());
    auto ed = run_editor(path);
    if (!ed) return report(ed.error());
    if (*ed != 0) return report(Error{"local_file", "the editor exited with status " + std::to_string(*ed) + "; nothing was applied"});
    auto edited = read_text_file(path);
    if (!edited) return report(edited.error());
    std::string stripped = strip_comments(*edited);
    if (stripped.empty()) {
      std::cerr << "Edit cancelled: the file is empty.\n";
      return kExitOk;
    }
    if (errors.empty() && stripped == strip_comments(original)) {
      std::cerr << "Edit cancelled: no changes made.\n";
      return kExitOk;
    }
    // After a conflict the same text may be saved again: it now applies over
    // the current version, whose changes the header showed.
    if (!errors.empty() && !last_was_conflict && stripped == last_attempt) {
      // Saved again unchanged after an error: give up, as kubectl edit does.
      std::cerr << "Edit cancelled: the errors were not fixed; nothing was applied.\n";
      return report(*last_error);
    }
    last_attempt = stripped;
    content = *edited;
    errors.clear();
    auto p = policy_from_document(*edited, "policy");
    if (!p) {
      errors.push_back(p.error().message);
      last_error = usage(p.error().message);
      last_was_conflict = false;
      continue;
    }
    auto r = put_policy(*api, *p, version);
    if (r) {
      print_policy_change(base_json, *r);
      return kExitOk;
    }
    last_error = r.error();
    if (r.error().code != "refused") return report(r.error());  // unreachable: nothing to edit
    errors.push_back(r.error().message);
    last_was_conflict = false;
    // A conflict: the operator's edits stay; they now apply over the current version.
    if (auto now = fetch_policy(*api); now && now->version != version) {
      std::string theirs = unified_diff(pl::policy_to_yaml(cur->policy), pl::policy_to_yaml(now->policy),
                                        "version " + std::to_string(version), "version " + std::to_string(now->version));
      errors.push_back("Changes made on the server meanwhile (saving again applies your file over version " +
                       std::to_string(now->version) + "):\n" + theirs);
      cur = std::move(now);
      version = cur->version;
      last_was_conflict = true;
      base_json = pl::to_json(cur->policy);
    }
  }
}

int cmd_policy_validate(const std::string& file) {
  auto text = read_text_file(file);
  if (!text) return report(text.error());
  auto p = policy_from_document(*text, file);
  if (!p) return report(usage(p.error().message));
  std::cout << file << ": valid\n";
  return kExitOk;
}

int cmd_policy_history(const Ctl& ctl, const std::string& output) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  std::vector<json> items;
  std::string cont;
  while (true) {
    auto r = api->get("/v1/policy/history?limit=1000" + (cont.empty() ? "" : "&continue=" + cont));
    if (!r) return report(r.error());
    for (auto& i : (*r)["items"]) items.push_back(i);
    if (!(*r)["continue"].is_string()) break;
    cont = (*r)["continue"].get<std::string>();
  }
  if (output == "json") print_json(json{{"items", items}});
  else if (output == "yaml") std::cout << to_yaml(json{{"items", items}});
  else std::cout << policy_history_table(items, now_ms()).render(ctl.colour());
  return kExitOk;
}

int cmd_policy_diff(const Ctl& ctl, const std::string& file) {
  auto text = read_text_file(file);
  if (!text) return report(text.error());
  auto p = policy_from_document(*text, file);
  if (!p) return report(usage(p.error().message));
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto cur = fetch_policy(*api);
  if (!cur) return report(cur.error());
  std::string d = unified_diff(pl::policy_to_yaml(cur->policy), pl::policy_to_yaml(*p),
                               "server (version " + std::to_string(cur->version) + ")", file);
  if (!ctl.colour()) {
    std::cout << d;
    return kExitOk;
  }
  std::size_t pos = 0;
  while (pos < d.size()) {
    auto nl = d.find('\n', pos);
    std::string line = d.substr(pos, nl - pos);
    Colour c = line.rfind("+++", 0) == 0 || line.rfind("---", 0) == 0 ? Colour::none
               : line[0] == '+' ? Colour::green : line[0] == '-' ? Colour::red : line[0] == '@' ? Colour::grey : Colour::none;
    std::cout << paint(line, c, true) << "\n";
    pos = nl + 1;
  }
  return kExitOk;
}

// ---------------------------------------------------------------- config

int cmd_config_set_context(const Ctl& ctl, const Context& update, bool use) {
  auto cfg = ctl.load_config();
  if (!cfg) return report(cfg.error());
  if (!update.server.empty())
    if (auto a = parse_server_url(update.server); !a) return report(usage("--" + a.error().message));
  if (!update.token.empty() && !update.token_file.empty()) return report(usage("set-context: give --token or --token-file, not both"));
  if (!cfg->find(update.name) && update.server.empty())
    return report(usage("set-context: a new context needs --server https://HOST:PORT"));
  bool created = upsert_context(*cfg, update);
  if (use || cfg->current_context.empty()) cfg->current_context = update.name;
  if (auto w = write_text_file(ctl.config_path(), ctl_config_to_yaml(*cfg), true); !w) return report(w.error());
  std::cout << "context " << update.name << (created ? " created" : " updated")
            << (cfg->current_context == update.name ? " (current)" : "") << " in " << ctl.config_path() << "\n";
  return kExitOk;
}

int cmd_config_use_context(const Ctl& ctl, const std::string& name) {
  auto cfg = ctl.load_config();
  if (!cfg) return report(cfg.error());
  auto sel = select_context(*cfg, name, "");
  if (!sel) return report(usage("use-context: " + sel.error().message.substr(sel.error().message.find(':') + 2)));
  cfg->current_context = name;
  if (auto w = write_text_file(ctl.config_path(), ctl_config_to_yaml(*cfg), true); !w) return report(w.error());
  std::cout << "switched to context " << name << "\n";
  return kExitOk;
}

int cmd_config_get_contexts(const Ctl& ctl, const std::string& output) {
  auto cfg = ctl.load_config();
  if (!cfg) return report(cfg.error());
  const char* env = std::getenv("C4I_CONTEXT");
  std::string current = env && *env ? env : cfg->current_context;
  // Tokens are never printed: only how the context authenticates.
  auto auth = [](const Context& c) {
    return !c.token.empty() ? std::string("token") : !c.token_file.empty() ? "token_file " + c.token_file : std::string("none");
  };
  if (output == "json" || output == "yaml") {
    json list = json::array();
    for (const auto& c : cfg->contexts)
      list.push_back({{"name", c.name}, {"server", c.server}, {"ca", c.ca.empty() ? json(nullptr) : json(c.ca)},
                      {"auth", auth(c)}, {"current", c.name == current}});
    json doc{{"current_context", current.empty() ? json(nullptr) : json(current)}, {"contexts", list}};
    if (output == "json") print_json(doc);
    else std::cout << to_yaml(doc);
    return kExitOk;
  }
  if (output == "name") {
    for (const auto& c : cfg->contexts) std::cout << c.name << "\n";
    return kExitOk;
  }
  Table t;
  t.header = {"CURRENT", "NAME", "SERVER", "CA", "AUTH"};
  for (const auto& c : cfg->contexts)
    t.rows.push_back({{c.name == current ? "*" : ""}, {c.name}, {c.server}, {c.ca.empty() ? "(system)" : c.ca}, {auth(c)}});
  std::cout << t.render(ctl.colour());
  return kExitOk;
}

int cmd_config_current_context(const Ctl& ctl) {
  auto cfg = ctl.load_config();
  if (!cfg) return report(cfg.error());
  const char* env = std::getenv("C4I_CONTEXT");
  std::string current = env && *env ? env : cfg->current_context;
  if (current.empty()) return report(usage("no current context (c4ictl config use-context NAME)"));
  std::cout << current << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------- gateway

std::optional<std::int64_t> parse_duration_s(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0, n = 0;
  bool digits = false, unit_seen = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      if (n > 1'000'000'000) return std::nullopt;
      n = n * 10 + (c - '0');
      digits = true;
      continue;
    }
    std::int64_t mult = c == 's' ? 1 : c == 'm' ? 60 : c == 'h' ? 3600 : c == 'd' ? 86'400 : 0;
    if (!mult || !digits) return std::nullopt;
    total += n * mult;
    n = 0;
    digits = false;
    unit_seen = true;
  }
  if (digits) {
    if (unit_seen) return std::nullopt;  // "1h30": 30 of what?
    total += n;
  }
  if (total <= 0) return std::nullopt;
  return total;
}

int cmd_gateway_token_create(const Ctl& ctl, const TokenCreateOptions& o) {
  auto ttl = parse_duration_s(o.ttl);
  if (!ttl) return report(usage("--ttl: \"" + o.ttl + "\" is not a duration (90s, 30m, 1h, 2d, 1h30m)"));
  json body{{"ttl_s", *ttl}, {"uses", o.uses}};
  if (!o.gateway.empty()) body["gateway"] = o.gateway;
  if (!o.labels.empty()) {
    json labels = json::object();
    std::size_t pos = 0;
    while (pos <= o.labels.size()) {
      std::size_t comma = o.labels.find(',', pos);
      if (comma == std::string::npos) comma = o.labels.size();
      std::string kv = o.labels.substr(pos, comma - pos);
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return report(usage("--labels: \"" + kv + "\" is not KEY=VALUE (--labels zone=a,room=kitchen)"));
      labels[kv.substr(0, eq)] = kv.substr(eq + 1);
      pos = comma + 1;
    }
    body["labels"] = labels;
  }
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto r = api->call("POST", "/v1/gateway-tokens", body.dump(), {{"Content-Type", "application/json"}});
  if (!r) return report(r.error());
  if (r->status / 100 != 2) return report(ApiClient::refused(*r));
  const json& t = r->body;
  if (o.output == "json") {
    print_json(t);
  } else if (o.output == "yaml") {
    std::cout << to_yaml(t);
  } else {
    // The token alone on stdout (`> token-file`); what it allows on stderr.
    std::cout << t.value("token", std::string()) << "\n";
    std::cerr << "bootstrap token " << t.value("id", std::string()) << ": " << t.value("uses_max", 0)
              << " use(s) until " << format_time(t.value("expires_t", std::int64_t{0}))
              << (t["gateway"].is_string() ? ", for gateway " + t["gateway"].get<std::string>() : std::string())
              << (t["labels"].is_object() && !t["labels"].empty() ? ", labels " + t["labels"].dump() : std::string())
              << " (shown once: the orchestrator keeps only its hash)\n";
  }
  return kExitOk;
}

int cmd_gateway_token_list(const Ctl& ctl, const std::string& output) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto r = api->get("/v1/gateway-tokens");
  if (!r) return report(r.error());
  const json& items = (*r)["items"];
  if (output == "json") {
    print_json(*r);
    return kExitOk;
  }
  if (output == "yaml") {
    std::cout << to_yaml(*r);
    return kExitOk;
  }
  Table t;
  t.header = {"ID", "GATEWAY", "USES", "EXPIRES", "STATE", "LABELS", "CREATED-BY"};
  for (const auto& i : items) {
    std::string labels;
    if (i["labels"].is_object())
      for (auto it = i["labels"].begin(); it != i["labels"].end(); ++it)
        labels += (labels.empty() ? "" : ",") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
    std::string state = i.value("state", std::string());
    t.rows.push_back({{i.value("id", std::string())},
                      {i["gateway"].is_string() ? i["gateway"].get<std::string>() : std::string("-")},
                      {std::to_string(i.value("uses", 0)) + "/" + std::to_string(i.value("uses_max", 0))},
                      {format_time(i.value("expires_t", std::int64_t{0}))},
                      {state, state == "active" ? Colour::green : Colour::grey},
                      {labels.empty() ? "-" : labels},
                      {i.value("created_by", std::string())}});
  }
  std::cout << t.render(ctl.colour());
  return kExitOk;
}

int cmd_gateway_revoke(const Ctl& ctl, const std::string& name) {
  auto api = ctl.client();
  if (!api) return report(api.error());
  auto r = api->call("POST", "/v1/gateways/" + url_segment(name) + ":revoke", "{}", {{"Content-Type", "application/json"}});
  if (!r) return report(r.error());
  if (r->status / 100 != 2) return report(ApiClient::refused(*r));
  const json& b = r->body;
  std::cout << "gateway " << name << " revoked: its certificates (" << b.value("certificates", 0)
            << " enrolled) are refused from now on";
  if (b["node"].is_string()) std::cout << "; node " << b["node"].get<std::string>() << " is unschedulable";
  std::cout << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------- version

int cmd_version(const Ctl& ctl, bool client_only, const std::string& output) {
  json doc{{"client", {{"name", "c4ictl"}, {"version", C4I_VERSION}}}};
  std::optional<Error> failure;
  if (!client_only) {
    auto api = ctl.client();
    if (!api) {
      failure = api.error();
    } else {
      // The orchestrator has no version endpoint: its name comes from the
      // Server header and the API version from its OpenAPI document.
      auto r = api->call("GET", "/v1/openapi.json");
      if (!r) {
        failure = r.error();
      } else {
        json server{{"url", api->connection().server}};
        auto sh = r->headers.find("server");
        server["name"] = sh == r->headers.end() ? json(nullptr) : json(sh->second);
        if (r->status == 200 && r->body.is_object() && r->body["info"].is_object() && r->body["info"]["version"].is_string())
          server["api_version"] = r->body["info"]["version"];
        else
          server["api_version"] = nullptr;
        doc["server"] = server;
      }
    }
  }
  if (output == "json") {
    print_json(doc);
  } else if (output == "yaml") {
    std::cout << to_yaml(doc);
  } else {
    std::cout << "Client: c4ictl " << C4I_VERSION << "\n";
    if (doc.contains("server")) {
      const json& s = doc["server"];
      std::cout << "Server: " << (s["name"].is_string() ? s["name"].get<std::string>() : std::string("(unnamed)"))
                << ", API " << (s["api_version"].is_string() ? s["api_version"].get<std::string>() : std::string("unknown"))
                << " at " << s["url"].get<std::string>() << "\n";
    }
  }
  if (failure) return report(*failure);
  return kExitOk;
}

}  // namespace c4i::ctl
