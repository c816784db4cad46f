// Router: maps (method, path) to a route id and its path parameters.
// Patterns are '/'-separated segments: a literal ("functions"), a parameter
// ("{id}"), or a parameter with a literal suffix ("{id}:move", the Google API
// style custom verb). Pure: no I/O, so it is unit tested and fuzzed alone.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace c4i::http {

class Router {
 public:
  enum class Outcome { found, not_found, method_not_allowed, bad_path };
  struct Match {
    Outcome outcome = Outcome::not_found;
    std::size_t route = 0;                        // valid when found
    std::map<std::string, std::string> params;    // percent-decoded
    std::vector<std::string> allowed;             // for method_not_allowed
  };

  // Adds a route; returns its id (0, 1, 2, ... in order of adding).
  // Throws std::invalid_argument on a malformed pattern (a programming error).
  std::size_t add(std::string method, std::string_view pattern);
  // Finds the most specific route for the path (without query string).
  Match match(std::string_view method, std::string_view path) const;
  std::size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    enum class Kind { literal, param } kind;
    std::string text;    // literal text, or parameter name
    std::string suffix;  // for a parameter: required literal suffix (":move"), may be empty
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    int specificity = 0;
  };
  std::vector<Route> routes_;
};

}  // namespace c4i::http
