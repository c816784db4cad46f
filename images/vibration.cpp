#include "images/vibration.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <complex>
#include <numbers>

#include <fftw3.h>

namespace c4i::functions {
namespace {

Error invalid(std::string what) { return Error{"invalid_argument", std::move(what)}; }

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// FFTW buffers and plan for one transform, released on every path.
class RealFft {
 public:
  explicit RealFft(std::size_t n) {
    in_ = static_cast<double*>(fftw_malloc(sizeof(double) * n));
    out_ = static_cast<fftw_complex*>(fftw_malloc(sizeof(fftw_complex) * (n / 2 + 1)));
    if (in_ && out_) plan_ = fftw_plan_dft_r2c_1d(static_cast<int>(n), in_, out_, FFTW_ESTIMATE);
  }
  ~RealFft() {
    if (plan_) fftw_destroy_plan(plan_);
    fftw_free(in_);
    fftw_free(out_);
  }
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;
  bool ok() const { return plan_ != nullptr; }
  double* in() { return in_; }
  void run() { fftw_execute(plan_); }
  double magnitude(std::size_t k) const { return std::hypot(out_[k][0], out_[k][1]); }

 private:
  double* in_ = nullptr;
  fftw_complex* out_ = nullptr;
  fftw_plan plan_ = nullptr;
};

}  // namespace

std::string_view to_string(VibrationMode m) { return m == VibrationMode::intensive ? "intensive" : "relaxed"; }

ModeProfile profile(VibrationMode m) {
  if (m == VibrationMode::intensive) return ModeProfile{1.0, 0.0, 5};
  return ModeProfile{10.0, 100.0, 0};
}

Result<ModeChoice> resolve_mode(std::string_view flag, std::string_view env_mode, std::string_view env_tier) {
  std::string_view chosen = flag;
  std::string source = "--mode";
  if (chosen.empty()) {
    chosen = env_mode;
    source = "C4I_MODE";
  }
  if (chosen.empty()) {
    chosen = "auto";
    source = "default";
  }
  if (chosen == "intensive") return ModeChoice{VibrationMode::intensive, source + " intensive"};
  if (chosen == "relaxed") return ModeChoice{VibrationMode::relaxed, source + " relaxed"};
  if (chosen != "auto")
    return invalid(source + " '" + std::string(chosen) + "' is not intensive, relaxed or auto");
  if (env_tier.empty()) return ModeChoice{VibrationMode::intensive, source + " auto, C4I_TIER unset"};
  if (env_tier == "gateway" || env_tier == "edge")
    return ModeChoice{VibrationMode::intensive, source + " auto, tier " + std::string(env_tier)};
  if (env_tier == "cloud") return ModeChoice{VibrationMode::relaxed, source + " auto, tier cloud"};
  return invalid("C4I_TIER '" + std::string(env_tier) + "' is not gateway, edge or cloud");
}

Result<FaultBand> parse_fault_band(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return invalid("fault band '" + std::string(text) + "' is not LOW-HIGH in Hz");
  auto lo = parse_double(text.substr(0, dash));
  auto hi = parse_double(text.substr(dash + 1));
  if (!lo || !hi || *lo < 0 || *hi <= *lo)
    return invalid("fault band '" + std::string(text) + "' is not LOW-HIGH in Hz with 0 <= LOW < HIGH");
  FaultBand b;
  b.low_hz = *lo;
  b.high_hz = *hi;
  return b;
}

AxisFeatures time_features(std::span<const double> x) {
  AxisFeatures f;
  if (x.empty()) return f;
  const auto n = static_cast<double>(x.size());
  double sum = 0;
  for (double v : x) sum += v;
  f.mean = sum / n;
  double m2 = 0, m4 = 0;
  for (double v : x) {
    const double d = v - f.mean;
    const double d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
    f.peak = std::max(f.peak, std::fabs(d));
  }
  m2 /= n;
  m4 /= n;
  f.rms = std::sqrt(m2);
  // A signal flat to rounding has no meaningful shape.
  if (f.rms > 1e-12 * std::max(1.0, std::fabs(f.mean))) {
    f.crest_factor = f.peak / f.rms;
    f.kurtosis = m4 / (m2 * m2);
  } else {
    f.rms = 0;
    f.peak = 0;
  }
  return f;
}

void spectral_features(std::span<const double> x, double fs, std::size_t peaks, const std::optional<FaultBand>& band,
                       AxisFeatures& f) {
  const std::size_t n = x.size();
  if (n < 4 || !(fs > 0)) return;
  if (f.rms == 0) {  // flat: no spectrum to speak of, and nothing in the band
    if (band && band->low_hz <= fs / 2) f.band_energy_ratio = 0.0;
    return;
  }
  RealFft fft(n);
  if (!fft.ok()) return;
  // Periodic Hann window; its coherent gain (sum of weights) scales amplitudes back.
  double gain = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double w = 0.5 * (1.0 - std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n)));
    fft.in()[i] = (x[i] - f.mean) * w;
    gain += w;
  }
  fft.run();
  const std::size_t bins = n / 2 + 1;
  std::vector<double> mag(bins);
  for (std::size_t k = 0; k < bins; ++k) mag[k] = fft.magnitude(k);
  const double bin_hz = fs / static_cast<double>(n);

  if (peaks > 0) {
    std::vector<SpectralPeak> found;
    for (std::size_t k = 1; k + 1 < bins; ++k) {
      const double a = mag[k - 1], b = mag[k], c = mag[k + 1];
      if (!(b > a && b >= c)) continue;
      const double denom = a - 2 * b + c;
      double p = denom != 0 ? 0.5 * (a - c) / denom : 0.0;
      p = std::clamp(p, -0.5, 0.5);
      const double m = b - 0.25 * (a - c) * p;
      found.push_back({(static_cast<double>(k) + p) * bin_hz, 2.0 * m / gain});
    }
    std::sort(found.begin(), found.end(), [](const auto& l, const auto& r) { return l.amplitude > r.amplitude; });
    // Leakage side lobes of a strong line stay under 5% of it (Hann: -31 dB).
    const double floor = found.empty() ? 0 : 0.05 * found.front().amplitude;
    for (const auto& pk : found) {
      if (f.dominant.size() >= peaks || pk.amplitude < floor || pk.amplitude <= 0) break;
      f.dominant.push_back(pk);
    }
  }
  if (band && band->low_hz <= fs / 2) {
    double total = 0, in_band = 0;
    for (std::size_t k = 1; k < bins; ++k) {
      const double p = mag[k] * mag[k];
      total += p;
      const double hz = static_cast<double>(k) * bin_hz;
      if (hz >= band->low_hz && hz <= band->high_hz) in_band += p;
    }
    f.band_energy_ratio = total > 0 ? in_band / total : 0.0;
    f.fault = total > 0 && *f.band_energy_ratio >= band->energy_ratio_threshold;
  }
}

std::vector<double> decimate(std::span<const double> x, std::size_t factor) {
  if (factor <= 1) return {x.begin(), x.end()};
  std::vector<double> out;
  out.reserve(x.size() / factor + 1);
  for (std::size_t i = 0; i + factor <= x.size(); i += factor) {
    double s = 0;
    for (std::size_t j = i; j < i + factor; ++j) s += x[j];
    out.push_back(s / static_cast<double>(factor));
  }
  return out;
}

VibrationReport analyse(const ClosedWindow<AccelSample>& w, VibrationMode mode, const std::optional<FaultBand>& band) {
  VibrationReport r;
  r.start_s = w.start_s;
  r.end_s = w.end_s;
  r.by_wall_clock = w.by_wall_clock;
  r.mode = mode;
  r.samples = w.samples.size();
  if (w.samples.empty()) return r;
  if (w.samples.size() >= 2) {
    const double span_s = w.samples.back().t_s - w.samples.front().t_s;
    if (span_s > 0) r.sample_rate_hz = static_cast<double>(w.samples.size() - 1) / span_s;
  }
  const ModeProfile prof = profile(mode);
  std::size_t factor = 1;
  if (prof.max_rate_hz > 0 && r.sample_rate_hz > prof.max_rate_hz)
    factor = static_cast<std::size_t>(std::ceil(r.sample_rate_hz / prof.max_rate_hz - 1e-9));
  r.analysed_rate_hz = r.sample_rate_hz / static_cast<double>(factor);

  // One-axis samples in a three-axis window (or the reverse) are analysed by
  // the first sample's form; the others were already validated as numbers.
  const bool single = w.samples.front().axes == 1;
  const std::vector<std::string> names = single ? std::vector<std::string>{"a"} : std::vector<std::string>{"x", "y", "z"};
  for (std::size_t axis = 0; axis < names.size(); ++axis) {
    std::vector<double> x;
    x.reserve(w.samples.size());
    for (const auto& s : w.samples) x.push_back(axis == 0 ? s.x : axis == 1 ? s.y : s.z);
    std::vector<double> d = decimate(x, factor);
    AxisFeatures f = time_features(d);
    spectral_features(d, r.analysed_rate_hz, prof.dominant_peaks, band, f);
    r.fault = r.fault || f.fault;
    r.axes.emplace_back(names[axis], std::move(f));
  }
  return r;
}

namespace {
double round6(double v) { return std::round(v * 1e6) / 1e6 + 0.0; }  // + 0.0: no "-0.0"
}  // namespace

nlohmann::json report_json(const VibrationReport& r, const FunctionIdentity& who, const std::optional<FaultBand>& band) {
  nlohmann::json axes = nlohmann::json::object();
  for (const auto& [name, f] : r.axes) {
    nlohmann::json a{{"mean", round6(f.mean)},
                     {"rms", round6(f.rms)},
                     {"peak", round6(f.peak)},
                     {"crest_factor", round6(f.crest_factor)},
                     {"kurtosis", round6(f.kurtosis)}};
    if (r.mode == VibrationMode::intensive) {
      nlohmann::json peaks = nlohmann::json::array();
      for (const auto& p : f.dominant) peaks.push_back({{"hz", round6(p.hz)}, {"amplitude", round6(p.amplitude)}});
      a["dominant"] = std::move(peaks);
    }
    if (band) {
      nlohmann::json b{{"low_hz", band->low_hz}, {"high_hz", band->high_hz}, {"fault", f.fault}};
      b["energy_ratio"] = f.band_energy_ratio ? nlohmann::json(round6(*f.band_energy_ratio)) : nlohmann::json(nullptr);
      a["fault_band"] = std::move(b);
    }
    axes[name] = std::move(a);
  }
  return {{"type", "vibration"},
          {"mode", to_string(r.mode)},
          {"node", who.node},
          {"function", who.function},
          {"device", who.device},
          {"window", {{"start", r.start_s}, {"end", r.end_s}, {"closed_by", r.by_wall_clock ? "wall_clock" : "sample_time"}}},
          {"samples", r.samples},
          {"sample_rate_hz", round6(r.sample_rate_hz)},
          {"analysed_rate_hz", round6(r.analysed_rate_hz)},
          {"fault", r.fault},
          {"axes", std::move(axes)}};
}

}  // namespace c4i::functions
