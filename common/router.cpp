#include "common/router.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/http_types.hpp"

namespace c4i::http {

namespace {
// Splits "/a/b" into {"a","b"}; returns false on a path that is not absolute.
bool split_path(std::string_view path, std::vector<std::string_view>& out) {
  if (path.empty() || path.front() != '/') return false;
  if (path == "/") return true;
  std::size_t start = 1;
  while (true) {
    std::size_t end = path.find('/', start);
    out.push_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}
}  // namespace

std::size_t Router::add(std::string method, std::string_view pattern) {
  std::vector<std::string_view> parts;
  if (!split_path(pattern, parts)) throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  Route r;
  r.method = std::move(method);
  for (auto part : parts) {
    if (part.empty()) throw std::invalid_argument("empty segment in route pattern " + std::string(pattern));
    Segment s;
    if (part.front() == '{') {
      auto close = part.find('}');
      if (close == std::string_view::npos || close == 1) throw std::invalid_argument("bad parameter in route pattern " + std::string(pattern));
      s.kind = Segment::Kind::param;
      s.text = std::string(part.substr(1, close - 1));
      s.suffix = std::string(part.substr(close + 1));
      r.specificity = r.specificity * 4 + (s.suffix.empty() ? 1 : 2);
    } else {
      s.kind = Segment::Kind::literal;
      s.text = std::string(part);
      r.specificity = r.specificity * 4 + 3;
    }
    r.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(r));
  return routes_.size() - 1;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  std::vector<std::string_view> parts;
  if (!split_path(path, parts)) {
    result.outcome = Outcome::bad_path;
    return result;
  }
  int best = -1;
  bool path_matched = false;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (r.segments.size() != parts.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t k = 0; k < parts.size() && ok; ++k) {
      const Segment& s = r.segments[k];
      std::string_view p = parts[k];
      if (s.kind == Segment::Kind::literal) {
        ok = (p == s.text);
        continue;
      }
      if (p.size() <= s.suffix.size()) { ok = false; continue; }
      if (p.substr(p.size() - s.suffix.size()) != s.suffix) { ok = false; continue; }
      std::string_view raw = p.substr(0, p.size() - s.suffix.size());
      // A plain parameter never swallows a custom verb: "{id}" does not match "x:move".
      if (s.suffix.empty() && raw.find(':') != std::string_view::npos) {
        bool shadowed = std::any_of(routes_.begin(), routes_.end(), [&](const Route& o) {
          return o.segments.size() == r.segments.size() && o.segments[k].kind == Segment::Kind::param &&
                 !o.segments[k].suffix.empty() && raw.ends_with(o.segments[k].suffix);
        });
        if (shadowed) { ok = false; continue; }
      }
      std::string decoded;
      if (!percent_decode(std::string(raw), decoded)) {
        result.outcome = Outcome::bad_path;
        return result;
      }
      params[s.text] = std::move(decoded);
    }
    if (!ok) continue;
    path_matched = true;
    if (r.method != method) {
      if (std::find(result.allowed.begin(), result.allowed.end(), r.method) == result.allowed.end())
        result.allowed.push_back(r.method);
      continue;
    }
    if (r.specificity > best) {
      best = r.specificity;
      result.route = i;
      result.params = std::move(params);
    }
  }
  if (best >= 0) {
    result.outcome = Outcome::found;
    result.allowed.clear();
  } else {
    result.outcome = path_matched ? Outcome::method_not_allowed : Outcome::not_found;
  }
  return result;
}

}  // namespace c4i::http
