// Number formatting for reasons and messages: locale-free, stable across runs.
#pragma once

#include <cstdint>
#include <string>

namespace c4i::placement::detail {

std::string shortest(double v);          // shortest text that reads back to v: 0.85, -80, 1e-05
std::string fixed2(double v);            // a fraction in reasons: 0.93
std::string db(double v);                // dBm / dB, one decimal at most: -58, -61.5
std::string cpu(std::int64_t millis);    // 200m
std::string memory(std::int64_t bytes);  // 64Mi, 2Gi, 1000
std::string seconds(std::int64_t ms);    // whole seconds, rounded down: 130s

}  // namespace c4i::placement::detail
