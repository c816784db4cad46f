// Engine vibration diagnostics (the industrial use case): per window of
// accelerometer samples, the time-domain features (RMS, peak, crest factor,
// kurtosis), the spectrum's dominant frequencies (FFTW) and a fault band.
// Two modes from the paper: intensive (full rate, short windows, every
// feature: near the engine, on the gateway) and relaxed (decimated to a low
// rate, long windows, summary only: in the cloud). Pure: no I/O, no clock.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "images/heart_rate.hpp"
#include "images/samples.hpp"
#include "images/window.hpp"

namespace c4i::functions {

enum class VibrationMode { intensive, relaxed };
std::string_view to_string(VibrationMode m);

struct ModeProfile {
  double window_s = 1.0;       // window length (sample time)
  double max_rate_hz = 0;      // 0: every sample; else block-averaged down to at most this rate
  std::size_t dominant_peaks = 5;  // 0: summary only (no peak list)
};
// intensive: 1 s windows, full rate, 5 dominant peaks.
// relaxed:  10 s windows, at most 100 Hz, summary only.
ModeProfile profile(VibrationMode m);

// The mode from --mode (may be empty), else C4I_MODE, else "auto". "auto"
// reads the tier the orchestrator put the function on (C4I_TIER): gateway and
// edge -> intensive (near the engine, where raw data is cheap), cloud ->
// relaxed (far from it, where bandwidth and CPU are paid for); unset -> intensive.
// `why` says which rule chose it (for the start-up log line).
struct ModeChoice {
  VibrationMode mode;
  std::string why;
};
Result<ModeChoice> resolve_mode(std::string_view flag, std::string_view env_mode, std::string_view env_tier);

struct FaultBand {
  double low_hz = 0, high_hz = 0;  // inclusive band
  double energy_ratio_threshold = 0.5;  // fault when band power / total AC power >= this
};
// "LOW-HIGH" in Hz, e.g. "90-110".
Result<FaultBand> parse_fault_band(std::string_view text);

struct SpectralPeak {
  double hz = 0;
  double amplitude = 0;  // of a sine at that frequency, in the samples' unit
};

struct AxisFeatures {
  double mean = 0;          // DC (gravity on a vertical axis)
  double rms = 0;           // of the signal less its mean
  double peak = 0;          // largest |x - mean|
  double crest_factor = 0;  // peak / rms (0 when rms is 0)
  double kurtosis = 0;      // m4 / m2^2 (3 for Gaussian noise, 1.5 for a sine; 0 when flat)
  std::vector<SpectralPeak> dominant;  // strongest first
  std::optional<double> band_energy_ratio;  // nullopt: band above Nyquist or no spectrum
  bool fault = false;
};

// Time-domain features of one axis.
AxisFeatures time_features(std::span<const double> x);
// Adds the spectrum's dominant peaks and the fault band to `f` (Hann window,
// real FFT; a local maximum's frequency refined by parabolic interpolation).
void spectral_features(std::span<const double> x, double sample_rate_hz, std::size_t peaks,
                       const std::optional<FaultBand>& band, AxisFeatures& f);

// Block-averages `x` by `factor` (anti-aliasing for the relaxed mode's low rate).
std::vector<double> decimate(std::span<const double> x, std::size_t factor);

struct VibrationReport {
  double start_s = 0, end_s = 0;
  bool by_wall_clock = false;
  VibrationMode mode = VibrationMode::intensive;
  std::size_t samples = 0;        // samples in the window (before decimation)
  double sample_rate_hz = 0;      // measured from the timestamps (0: fewer than 2 samples)
  double analysed_rate_hz = 0;    // after decimation
  std::vector<std::pair<std::string, AxisFeatures>> axes;  // "x","y","z" or "a"
  bool fault = false;             // any axis
};
// A window with at least one sample. Samples are assumed evenly spaced; the
// rate is (n - 1) / (t_last - t_first).
VibrationReport analyse(const ClosedWindow<AccelSample>& window, VibrationMode mode, const std::optional<FaultBand>& band);

// One JSON line per window:
// {"type":"vibration","mode","node","function","device","window":{"start","end","closed_by"},
//  "samples","sample_rate_hz","analysed_rate_hz","fault",
//  "axes":{"x":{"mean","rms","peak","crest_factor","kurtosis",
//               "dominant":[{"hz","amplitude"}] (intensive only),
//               "fault_band":{"low_hz","high_hz","energy_ratio","fault"} (when configured)}}}
nlohmann::json report_json(const VibrationReport& r, const FunctionIdentity& who, const std::optional<FaultBand>& band);

}  // namespace c4i::functions
