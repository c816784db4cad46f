#include "ctl/sse.hpp"

namespace c4i::ctl {

void SseParser::feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // CRLF: one line end
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      if (skipping_) {
        skipping_ = false;
      } else {
        line(partial_, on_event);
      }
      partial_.clear();
      continue;
    }
    if (skipping_) continue;
    if (partial_.size() >= max_line_) {
      partial_.clear();
      skipping_ = true;
      ++dropped_;
      continue;
    }
    partial_ += c;
  }
}

void SseParser::line(std::string_view l, const std::function<void(const SseEvent&)>& on_event) {
  if (l.empty()) {  // dispatch
    if (has_data_) on_event(SseEvent{last_id_, event_.empty() ? "message" : event_, data_});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l.front() == ':') return;  // a comment (the server's keep-alive)
  std::string_view field = l, value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  } else if (field == "event") {
    event_ = value;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = value;
  }
  // "retry" and unknown fields are ignored, as the spec says.
}

}  // namespace c4i::ctl
