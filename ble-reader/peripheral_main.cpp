// c4i-gatt-peripheral: the emulated heart-rate peripheral on a Unix
// SOCK_SEQPACKET socket, for demos and benchmarks without a radio.
// `c4i-reader --connect unix:PATH` is its client. Runs until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "ble-reader/peripheral_server.hpp"

namespace {
void say(const std::string& line) { std::fprintf(stderr, "c4i-gatt-peripheral: %s\n", line.c_str()); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"c4i-gatt-peripheral: an emulated BLE heart-rate sensor on a Unix SOCK_SEQPACKET socket"};
  c4i::reader::PeripheralConfig cfg;
  std::string path, error_spec;
  int bpm = cfg.heart_rate_bpm, battery = cfg.battery_level, mtu = cfg.mtu;
  app.add_option("--listen", path, "socket path")->required();
  app.add_option("--name", cfg.device_name, "Device Name (0x2A00)");
  app.add_option("--bpm", bpm, "first heart rate")->check(CLI::Range(0, 65535));
  app.add_flag("--rate-16bit", cfg.heart_rate_16bit, "send the rate as uint16");
  app.add_flag("--energy", cfg.energy_expended, "include Energy Expended");
  app.add_option("--interval-ms", cfg.heart_rate_interval_ms, "heart-rate notification period")->check(CLI::Range(1, 3'600'000));
  app.add_option("--battery", battery, "Battery Level %")->check(CLI::Range(0, 100));
  app.add_option("--battery-interval-ms", cfg.battery_interval_ms, "battery notification period (0: none)")->check(CLI::Range(0, 3'600'000));
  app.add_option("--mtu", mtu, "server Rx MTU")->check(CLI::Range(23, 517));
  app.add_flag("--indications", cfg.heart_rate_indications, "Heart Rate Measurement indicates instead of notifying");
  app.add_option("--disconnect-after", cfg.disconnect_after_notifications, "drop each connection after N notifications");
  app.add_flag("--silent", cfg.silent, "accept connections, answer nothing");
  app.add_option("--error", error_spec, "OPCODE:HANDLE:CODE, e.g. 0x0a:0x0009:0x05 (handle 0: any)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    say(e.what());
    return 2;
  }
  cfg.heart_rate_bpm = static_cast<std::uint16_t>(bpm);
  cfg.battery_level = static_cast<std::uint8_t>(battery);
  cfg.mtu = static_cast<std::uint16_t>(mtu);
  if (!error_spec.empty()) {
    int op = -1, handle = -1, code = -1;
    char tail = 0;
    if (std::sscanf(error_spec.c_str(), "%i:%i:%i%c", &op, &handle, &code, &tail) != 3 || op < 0 || op > 0xFF ||
        handle < 0 || handle > 0xFFFF || code < 0 || code > 0xFF) {
      say("--error '" + error_spec + "' is not OPCODE:HANDLE:CODE (e.g. 0x0a:0x0009:0x05)");
      return 2;
    }
    cfg.inject_error = c4i::reader::PeripheralConfig::InjectedError{static_cast<std::uint8_t>(op),
                                                                    static_cast<std::uint16_t>(handle),
                                                                    static_cast<std::uint8_t>(code)};
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the server thread inherits the mask; sigwait below takes them
  c4i::reader::PeripheralServer server(path, cfg);
  if (auto s = server.start(); !s) {
    say(s.error().message);
    return 1;
  }
  say("listening on " + path);
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  const auto st = server.stats();
  say("stopped: " + std::to_string(st.connections) + " connections, " + std::to_string(st.peripheral.notifications) +
      " notifications, " + std::to_string(st.peripheral.indications) + " indications, " +
      std::to_string(st.peripheral.confirmations) + " confirmations");
  return 0;
}
