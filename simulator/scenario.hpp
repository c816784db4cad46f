// The device simulator's world: gateways at fixed positions, BLE devices that
// walk along timed paths, an RSSI model (log-distance path loss with
// Gaussian noise), and a load schedule per gateway. Pure: time is an input,
// the noise comes from a seeded generator, so a scenario replays the same.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"

namespace c4i::sim {

struct Point {
  double x = 0, y = 0;
};

struct Waypoint {
  double t_s = 0;
  Point at;
};

struct SimGateway {
  std::string name;
  Point at;
};

enum class DeviceKind { heart_rate, engine };

struct SimDevice {
  std::string addr;  // aa:bb:cc:dd:ee:ff
  bool random_addr = false;
  std::string name;
  DeviceKind kind = DeviceKind::heart_rate;
  std::vector<std::string> services;  // 16-bit UUIDs as 4 hex digits
  std::optional<std::uint16_t> manufacturer_id;
  std::vector<Waypoint> path;  // sorted by time; position is interpolated
  int heart_rate_bpm = 72;
  double vibration_hz = 120;    // engine: dominant vibration frequency
  double vibration_g = 1.5;     // engine: its amplitude
};

struct LoadStep {
  double t_s = 0;
  double cpu = 0, mem = 0;  // fractions 0..1
};

struct RssiModel {
  double tx_power_1m_dbm = -45;   // RSSI at 1 m
  double path_loss_exponent = 2.2;
  double noise_sigma_db = 2.0;
  double sensitivity_dbm = -95;   // weaker adverts are not received
};

struct Scenario {
  double duration_s = 180;
  std::int64_t advert_interval_ms = 200;
  std::uint64_t seed = 7;
  RssiModel rssi;
  std::vector<SimGateway> gateways;
  std::vector<SimDevice> devices;
  std::map<std::string, std::vector<LoadStep>> load;  // by gateway
};

Result<Scenario> scenario_from_yaml(const config::Node& root);
Result<Scenario> load_scenario(const std::string& path);

// Where the device is at scenario time t (clamped to its path's ends).
Point position_at(const SimDevice& d, double t_s);
double distance(Point a, Point b);
// Mean RSSI of the model at a distance (no noise), in dBm.
double mean_rssi_dbm(const RssiModel& m, double distance_m);
// The load of a gateway at time t: the last step at or before t (0 before any).
LoadStep load_at(const Scenario& s, const std::string& gateway, double t_s);

// Draws received RSSI values: the model plus seeded Gaussian noise, rounded
// and clamped to the HCI range (-127..20 dBm); nullopt below sensitivity.
class RssiSampler {
 public:
  RssiSampler(RssiModel model, std::uint64_t seed) : model_(model), rng_(seed) {}
  std::optional<int> sample(double distance_m);
 private:
  RssiModel model_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

}  // namespace c4i::sim
