#include "ctl/sse.hpp"

#include <gtest/gtest.h>

namespace c4i::ctl {
namespace {

std::vector<SseEvent> parse_in_pieces(const std::string& stream, std::size_t piece) {
  SseParser p;
  std::vector<SseEvent> out;
  for (std::size_t i = 0; i < stream.size(); i += piece)
    p.feed(std::string_view(stream).substr(i, piece), [&](const SseEvent& e) { out.push_back(e); });
  return out;
}

const std::string kStream =
    "retry: 2000\n: watching 4\n\n"
    "id: 5\nevent: functions\ndata: {\"rev\":5,\"kind\":\"functions\"}\n\n"
    ": keep-alive\n\n"
    "id: 6\r\nevent: migrations\r\ndata: line one\r\ndata: line two\r\n\r\n"
    "data: no event name\r\r";

TEST(CtlSse, SameEventsWhateverTheChunking) {
  auto whole = parse_in_pieces(kStream, kStream.size());
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].id, "5");
  EXPECT_EQ(whole[0].event, "functions");
  EXPECT_EQ(whole[0].data, "{\"rev\":5,\"kind\":\"functions\"}");
  EXPECT_EQ(whole[1].event, "migrations");
  EXPECT_EQ(whole[1].data, "line one\nline two");
  EXPECT_EQ(whole[2].event, "message");
  EXPECT_EQ(whole[2].id, "6");  // the last id stays until another is given
  for (std::size_t piece = 1; piece < 9; ++piece) {
    auto parts = parse_in_pieces(kStream, piece);
    ASSERT_EQ(parts.size(), whole.size()) << "piece " << piece;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      EXPECT_EQ(parts[i].data, whole[i].data) << "piece " << piece;
      EXPECT_EQ(parts[i].event, whole[i].event);
    }
  }
}

TEST(CtlSse, IncompleteEventIsNotDelivered) {
  SseParser p;
  int n = 0;
  p.feed("event: nodes\ndata: {}\n", [&](const SseEvent&) { ++n; });
  EXPECT_EQ(n, 0);
  p.feed("\n", [&](const SseEvent&) { ++n; });
  EXPECT_EQ(n, 1);
}

TEST(CtlSse, OverlongLineIsDroppedAndCounted) {
  SseParser p(16);
  std::vector<SseEvent> got;
  p.feed("data: " + std::string(100, 'x') + "\n\ndata: ok\n\n", [&](const SseEvent& e) { got.push_back(e); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, "ok");
  EXPECT_EQ(p.dropped_lines(), 1u);
}

TEST(CtlSse, LastEventIdTracksTheStream) {
  SseParser p;
  p.feed("id: 41\ndata: a\n\nid: 42\ndata: b\n\n", [](const SseEvent&) {});
  EXPECT_EQ(p.last_event_id(), "42");
}

}  // namespace
}  // namespace c4i::ctl
