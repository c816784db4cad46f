#include "ctl/contexts.hpp"

#include <yaml-cpp/yaml.h>

namespace c4i::ctl {

const Context* CtlConfig::find(const std::string& name) const {
  for (const auto& c : contexts)
    if (c.name == name) return &c;
  return nullptr;
}

Result<CtlConfig> parse_ctl_config(const config::Node& root) {
  return config::parse(root, [](const config::Node& n) {
    CtlConfig cfg;
    if (n.is_null()) return cfg;  // an empty file
    n.reject_unknown({"current_context", "contexts"});
    cfg.current_context = n.str_or("current_context", "");
    if (auto list = n.optional_child("contexts")) {
      if (!list->is_null()) {
        for (const auto& item : list->items()) {
          item.reject_unknown({"name", "server", "ca", "token", "token_file"});
          Context c;
          auto name = item.child("name");
          c.name = name.str();
          if (c.name.empty()) name.fail("must not be empty");
          if (cfg.find(c.name)) name.fail("duplicate context " + c.name);
          auto server = item.child("server");
          c.server = server.str();
          if (auto a = parse_server_url(c.server); !a) server.fail(a.error().message);
          c.ca = item.str_or("ca", "");
          c.token = item.str_or("token", "");
          c.token_file = item.str_or("token_file", "");
          if (!c.token.empty() && !c.token_file.empty()) item.child("token_file").fail("give token or token_file, not both");
          cfg.contexts.push_back(std::move(c));
        }
      }
    }
    if (!cfg.current_context.empty() && !cfg.find(cfg.current_context))
      n.child("current_context").fail("names no context in this file: " + cfg.current_context);
    return cfg;
  });
}

std::string ctl_config_to_yaml(const CtlConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!cfg.current_context.empty()) out << YAML::Key << "current_context" << YAML::Value << YAML::DoubleQuoted << cfg.current_context;
  out << YAML::Key << "contexts" << YAML::Value;
  if (cfg.contexts.empty()) {
    out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  } else {
    out << YAML::BeginSeq;
    for (const auto& c : cfg.contexts) {
      out << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << c.name;
      out << YAML::Key << "server" << YAML::Value << YAML::DoubleQuoted << c.server;
      if (!c.ca.empty()) out << YAML::Key << "ca" << YAML::Value << YAML::DoubleQuoted << c.ca;
      if (!c.token.empty()) out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << c.token;
      if (!c.token_file.empty()) out << YAML::Key << "token_file" << YAML::Value << YAML::DoubleQuoted << c.token_file;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Result<std::optional<Context>> select_context(const CtlConfig& cfg, const std::string& flag, const std::string& env) {
  std::string name = !flag.empty() ? flag : !env.empty() ? env : cfg.current_context;
  std::string source = !flag.empty() ? "--context" : !env.empty() ? "C4I_CONTEXT" : "current_context";
  if (name.empty()) return std::optional<Context>{};
  if (const Context* c = cfg.find(name)) return std::optional<Context>{*c};
  std::string known;
  for (const auto& c : cfg.contexts) known += (known.empty() ? "" : ", ") + c.name;
  return Error{"invalid_argument", source + ": no context named " + name + " (known: " + (known.empty() ? "none" : known) + ")"};
}

bool upsert_context(CtlConfig& cfg, const Context& u) {
  for (auto& c : cfg.contexts) {
    if (c.name != u.name) continue;
    if (!u.server.empty()) c.server = u.server;
    if (!u.ca.empty()) c.ca = u.ca;
    if (!u.token.empty()) {
      c.token = u.token;
      c.token_file.clear();
    }
    if (!u.token_file.empty()) {
      c.token_file = u.token_file;
      c.token.clear();
    }
    return false;
  }
  cfg.contexts.push_back(u);
  return true;
}

Result<ServerAddress> parse_server_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (url.rfind(scheme, 0) != 0) return Error{"invalid_argument", "server: must start with https://, got \"" + url.substr(0, 60) + "\""};
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return Error{"invalid_argument", "server: must be https://HOST[:PORT] without a path"};
  ServerAddress a;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return Error{"invalid_argument", "server: unclosed [ in an IPv6 address"};
    a.host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error{"invalid_argument", "server: expected :PORT after ]"};
      port = after.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    a.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    a.host = rest;
  }
  if (a.host.empty()) return Error{"invalid_argument", "server: no host in " + url};
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return Error{"invalid_argument", "server: port must be 1..65535, got \"" + port.substr(0, 10) + "\""};
    a.port = static_cast<std::uint16_t>(std::stoi(port));
  }
  return a;
}

}  // namespace c4i::ctl
