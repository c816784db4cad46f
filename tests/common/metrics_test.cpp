#include "common/metrics.hpp"

#include <gtest/gtest.h>

namespace c4i::metrics {
namespace {

TEST(Metrics, RendersCountersAndGaugesWithLabels) {
  Registry r;
  r.counter("c4i_events_total", "Events accepted", {{"type", "device.seen"}}).inc(3);
  r.gauge("c4i_nodes", "Nodes known").set(5);
  std::string text = r.render();
  EXPECT_NE(text.find("# HELP c4i_events_total Events accepted\n# TYPE c4i_events_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("c4i_events_total{type=\"device.seen\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE c4i_nodes gauge\nc4i_nodes 5\n"), std::string::npos) << text;
}

TEST(Metrics, SameNameAndLabelsIsTheSameSeries) {
  Registry r;
  r.counter("x_total", "x").inc();
  r.counter("x_total", "x").inc();
  EXPECT_DOUBLE_EQ(r.counter("x_total", "x").value(), 2);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("lat_seconds", "latency", {}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  std::string text = r.render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.10000000000000001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_sum 5.5499999999999998\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 3\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, TypeClashIsAProgrammingError) {
  Registry r;
  r.counter("m", "m");
  EXPECT_THROW(r.gauge("m", "m"), std::logic_error);
  EXPECT_THROW(r.counter("m", "m").inc(-1), std::invalid_argument);
}

}  // namespace
}  // namespace c4i::metrics
