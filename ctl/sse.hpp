// Server-sent events (WHATWG HTML, 9.2 "Server-sent events", the event stream
// interpretation): an incremental parser for GET /v1/watch. Bytes arrive in
// any pieces; each complete event (ended by a blank line) is handed out once.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace c4i::ctl {

struct SseEvent {
  std::string id;     // last "id:" seen (kept across events, as the spec says)
  std::string event;  // "message" when the stream named none
  std::string data;   // "data:" lines joined with '\n'
};

class SseParser {
 public:
  // A line longer than this is dropped (counted) rather than buffered forever.
  explicit SseParser(std::size_t max_line = 4 << 20) : max_line_(max_line) {}
  // Feeds bytes; calls `on_event` for every event completed by them.
  void feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event);
  const std::string& last_event_id() const { return last_id_; }
  std::size_t dropped_lines() const { return dropped_; }

 private:
  void line(std::string_view l, const std::function<void(const SseEvent&)>& on_event);
  std::size_t max_line_;
  std::string partial_;
  bool skipping_ = false;    // inside an over-long line
  bool after_cr_ = false;    // a CR ended the last line: a following LF belongs to it
  std::string last_id_, event_, data_;
  bool has_data_ = false;
  std::size_t dropped_ = 0;
};

}  // namespace c4i::ctl
