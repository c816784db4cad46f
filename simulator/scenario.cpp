#include "simulator/scenario.hpp"

#include <algorithm>
#include <cmath>

namespace c4i::sim {

namespace {
bool valid_addr(const std::string& a) {
  if (a.size() != 17) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i % 3 == 2) {
      if (a[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(a[i]))) {
      return false;
    }
  }
  return true;
}

Point point(const config::Node& n) {
  n.reject_unknown({"x", "y", "t", "name"});
  return {n.child("x").number_in(-1e6, 1e6), n.child("y").number_in(-1e6, 1e6)};
}
}  // namespace

Result<Scenario> scenario_from_yaml(const config::Node& root) {
  return config::parse(root, [](const config::Node& r) {
    r.reject_unknown({"duration_s", "advert_interval_ms", "seed", "rssi_model", "gateways", "devices", "load"});
    Scenario s;
    s.duration_s = r.number_in_or("duration_s", 1, 86400, s.duration_s);
    s.advert_interval_ms = r.integer_in_or("advert_interval_ms", 20, 10240, s.advert_interval_ms);
    s.seed = static_cast<std::uint64_t>(r.integer_in_or("seed", 0, 1LL << 62, 7));
    if (auto m = r.optional_child("rssi_model")) {
      m->reject_unknown({"tx_power_1m_dbm", "path_loss_exponent", "noise_sigma_db", "sensitivity_dbm"});
      s.rssi.tx_power_1m_dbm = m->number_in_or("tx_power_1m_dbm", -100, 20, s.rssi.tx_power_1m_dbm);
      s.rssi.path_loss_exponent = m->number_in_or("path_loss_exponent", 1, 6, s.rssi.path_loss_exponent);
      s.rssi.noise_sigma_db = m->number_in_or("noise_sigma_db", 0, 20, s.rssi.noise_sigma_db);
      s.rssi.sensitivity_dbm = m->number_in_or("sensitivity_dbm", -127, 0, s.rssi.sensitivity_dbm);
    }
    for (auto& g : r.child("gateways").items()) {
      g.reject_unknown({"name", "x", "y"});
      SimGateway gw{g.child("name").str(), point(g)};
      for (auto& other : s.gateways)
        if (other.name == gw.name) g.child("name").fail("duplicate gateway " + gw.name);
      s.gateways.push_back(gw);
    }
    for (auto& d : r.child("devices").items()) {
      d.reject_unknown({"addr", "random", "name", "kind", "services", "manufacturer_id", "path", "heart_rate_bpm",
                        "vibration_hz", "vibration_g"});
      SimDevice dev;
      dev.addr = d.child("addr").str();
      std::transform(dev.addr.begin(), dev.addr.end(), dev.addr.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!valid_addr(dev.addr)) d.child("addr").fail("must be a Bluetooth address aa:bb:cc:dd:ee:ff, got " + dev.addr);
      dev.random_addr = d.boolean_or("random", false);
      dev.name = d.str_or("name", "");
      if (dev.name.size() > 20) d.child("name").fail("must be at most 20 bytes to fit a legacy advertisement");
      dev.kind = d.str_or("kind", "heart_rate") == "engine" ? DeviceKind::engine : DeviceKind::heart_rate;
      if (auto k = d.optional_child("kind")) (void)k->one_of({"heart_rate", "engine"});
      if (auto sv = d.optional_child("services")) {
        for (auto& u : sv->items()) {
          std::string v = u.str();
          if (v.size() != 4 || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isxdigit(c); }))
            u.fail("must be a 16-bit UUID of 4 hex digits, got " + v);
          dev.services.push_back(v);
        }
      }
      if (auto m = d.optional_child("manufacturer_id")) dev.manufacturer_id = static_cast<std::uint16_t>(m->integer_in(0, 0xffff));
      dev.heart_rate_bpm = static_cast<int>(d.integer_in_or("heart_rate_bpm", 30, 220, 72));
      dev.vibration_hz = d.number_in_or("vibration_hz", 1, 5000, dev.vibration_hz);
      dev.vibration_g = d.number_in_or("vibration_g", 0, 100, dev.vibration_g);
      double last_t = -1;
      for (auto& w : d.child("path").items()) {
        Waypoint wp{w.child("t").number_in(0, 86400), point(w)};
        if (wp.t_s < last_t) w.child("t").fail("waypoints must be in time order");
        last_t = wp.t_s;
        dev.path.push_back(wp);
      }
      if (dev.path.empty()) d.child("path").fail("needs at least one waypoint");
      for (auto& other : s.devices)
        if (other.addr == dev.addr) d.child("addr").fail("duplicate device " + dev.addr);
      s.devices.push_back(std::move(dev));
    }
    if (auto l = r.optional_child("load")) {
      for (auto& [gw, steps] : l->entries()) {
        // Any node may have a load (edge and cloud nodes send heartbeats too).
        double last_t = -1;
        for (auto& st : steps.items()) {
          st.reject_unknown({"t", "cpu", "mem"});
          LoadStep ls{st.child("t").number_in(0, 86400), st.child("cpu").number_in(0, 1), st.number_in_or("mem", 0, 1, 0.3)};
          if (ls.t_s < last_t) st.child("t").fail("load steps must be in time order");
          last_t = ls.t_s;
          s.load[gw].push_back(ls);
        }
      }
    }
    return s;
  });
}

Result<Scenario> load_scenario(const std::string& path) {
  auto doc = config::load_file(path);
  if (!doc) return doc.error();
  return scenario_from_yaml(*doc);
}

Point position_at(const SimDevice& d, double t) {
  if (t <= d.path.front().t_s) return d.path.front().at;
  for (std::size_t i = 1; i < d.path.size(); ++i) {
    const auto& a = d.path[i - 1];
    const auto& b = d.path[i];
    if (t <= b.t_s) {
      double span = b.t_s - a.t_s;
      double f = span <= 0 ? 1.0 : (t - a.t_s) / span;
      return {a.at.x + f * (b.at.x - a.at.x), a.at.y + f * (b.at.y - a.at.y)};
    }
  }
  return d.path.back().at;
}

double distance(Point a, Point b) { return std::hypot(a.x - b.x, a.y - b.y); }

double mean_rssi_dbm(const RssiModel& m, double d) {
  // Log-distance path loss: RSSI(d) = RSSI(1 m) - 10 n log10(d), d >= 0.1 m.
  return m.tx_power_1m_dbm - 10.0 * m.path_loss_exponent * std::log10(std::max(d, 0.1));
}

LoadStep load_at(const Scenario& s, const std::string& gw, double t) {
  LoadStep out{0, 0, 0};
  auto it = s.load.find(gw);
  if (it == s.load.end()) return out;
  for (const auto& st : it->second) {
    if (st.t_s > t) break;
    out = st;
  }
  return out;
}

std::optional<int> RssiSampler::sample(double d) {
  double v = mean_rssi_dbm(model_, d) + model_.noise_sigma_db * noise_(rng_);
  if (v < model_.sensitivity_dbm) return std::nullopt;
  return static_cast<int>(std::clamp(std::lround(v), -127L, 20L));
}

}  // namespace c4i::sim
