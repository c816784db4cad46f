// Tumbling windows over sample time with a wall-clock flush: a window
// [start, start + length) closes when a sample at or past its end arrives, or,
// when the device falls silent, once the wall clock says the window should have
// ended plus a grace period. Pure: both clocks are arguments.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace c4i::functions {

template <typename Sample>
struct ClosedWindow {
  double start_s = 0;  // sample time
  double end_s = 0;
  bool by_wall_clock = false;  // closed because the device was silent
  std::vector<Sample> samples;
};

struct WindowCounters {
  std::uint64_t late = 0;      // sample time before the open window (or in a closed one)
  std::uint64_t overflow = 0;  // the open window already held max_samples
};

template <typename Sample>
class Windower {
 public:
  Windower(double length_s, double grace_s, std::size_t max_samples)
      : length_s_(length_s), grace_s_(grace_s), max_samples_(max_samples) {}

  // Adds a sample taken at sample time t_s, seen at wall time wall_s. Returns
  // the window this sample closed, if any. Late samples are counted and dropped.
  std::optional<ClosedWindow<Sample>> add(double t_s, Sample sample, double wall_s) {
    std::optional<ClosedWindow<Sample>> closed;
    if (open_ && t_s >= open_->end_s) closed = close(false);
    if (!open_) {
      const double start = std::floor(t_s / length_s_) * length_s_;
      if (closed_until_ && start < *closed_until_) {
        ++counters_.late;
        return closed;
      }
      open_ = ClosedWindow<Sample>{start, start + length_s_, false, {}};
      wall_deadline_s_ = wall_s + (open_->end_s - t_s) + grace_s_;
    }
    if (t_s < open_->start_s) {
      ++counters_.late;
      return closed;
    }
    if (open_->samples.size() >= max_samples_) {
      ++counters_.overflow;
      return closed;
    }
    open_->samples.push_back(std::move(sample));
    return closed;
  }

  // Closes the open window when the wall clock has passed its end plus grace.
  std::optional<ClosedWindow<Sample>> poll(double wall_s) {
    if (!open_ || wall_s < wall_deadline_s_) return std::nullopt;
    return close(true);
  }

  // Wall time at which poll() will close the open window; nullopt when none is open.
  std::optional<double> deadline() const {
    if (!open_) return std::nullopt;
    return wall_deadline_s_;
  }

  // Closes whatever is open (at shutdown).
  std::optional<ClosedWindow<Sample>> flush() {
    if (!open_) return std::nullopt;
    return close(false);
  }

  const WindowCounters& counters() const { return counters_; }
  double length_s() const { return length_s_; }

 private:
  std::optional<ClosedWindow<Sample>> close(bool by_wall_clock) {
    ClosedWindow<Sample> w = std::move(*open_);
    open_.reset();
    w.by_wall_clock = by_wall_clock;
    closed_until_ = w.end_s;
    return w;
  }

  double length_s_, grace_s_;
  std::size_t max_samples_;
  std::optional<ClosedWindow<Sample>> open_;
  std::optional<double> closed_until_;
  double wall_deadline_s_ = 0;
  WindowCounters counters_;
};

}  // namespace c4i::functions
