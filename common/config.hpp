// Config: YAML files read with yaml-cpp, validated field by field. An error
// names the field path, what was wrong, and where it stands in the file:
//   policy.tiers.gateway.cpu_high: must be between 0 and 1, got 1.4 (policy.yaml:12)
#pragma once

#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.hpp"

namespace c4i::config {

// Thrown by Node accessors while a loader walks a document; turned into a
// Result at the loader's edge by parse().
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Node {
 public:
  Node(YAML::Node node, std::string path, std::string file);

  const std::string& path() const { return path_; }
  int line() const;  // 1-based, 0 when unknown
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_null() const { return !node_.IsDefined() || node_.IsNull(); }

  bool has(std::string_view key) const;
  Node child(std::string_view key) const;                        // required
  std::optional<Node> optional_child(std::string_view key) const;
  std::vector<Node> items() const;                               // a sequence
  std::vector<std::pair<std::string, Node>> entries() const;     // a map, in file order
  // Fails naming the first key not in `allowed` (typos must not pass silently).
  void reject_unknown(std::initializer_list<std::string_view> allowed) const;

  std::string str() const;
  bool boolean() const;
  long long integer() const;
  long long integer_in(long long lo, long long hi) const;
  double number() const;
  double number_in(double lo, double hi) const;
  std::string one_of(std::initializer_list<std::string_view> choices) const;

  // Typed defaults: the field's value, or `fallback` when it is absent.
  std::string str_or(std::string_view key, std::string fallback) const;
  double number_in_or(std::string_view key, double lo, double hi, double fallback) const;
  long long integer_in_or(std::string_view key, long long lo, long long hi, long long fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;

  [[noreturn]] void fail(const std::string& what) const;
  const YAML::Node& yaml() const { return node_; }

 private:
  std::string where() const;
  YAML::Node node_;
  std::string path_;
  std::string file_;
};

// Parses a document. `name` is how errors call the file (its path or a label).
Result<Node> load_string(const std::string& text, const std::string& name);
Result<Node> load_file(const std::string& path);

// Runs `f(root)` and turns a ConfigError into an Error {"invalid_config", message}.
template <typename F>
auto parse(const Node& root, F&& f) -> Result<decltype(f(root))> {
  try {
    return f(root);
  } catch (const ConfigError& e) {
    return Error{"invalid_config", e.what()};
  }
}

}  // namespace c4i::config
