// Fuzzes the advertising-data decoder and the replay JSON writer: every
// view must stay inside the input, and the JSON line must stay valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/replay.hpp"

using namespace c4i::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  AdvertisingData ad;
  decode_advertising_data(in, ad);
  auto inside = [&](const void* p, std::size_t n) {
    auto b = static_cast<const std::uint8_t*>(p);
    return n == 0 || (b >= data && b + n <= data + size);
  };
  if (!inside(ad.name.data(), ad.name.size())) std::abort();
  if (!inside(ad.manufacturer_data.data(), ad.manufacturer_data.size())) std::abort();
  for (const auto& sd : ad.service_data)
    if (!inside(sd.data.data(), sd.data.size())) std::abort();
  for (const auto& u : ad.services)
    if (u.size != 2 && u.size != 4 && u.size != 16) std::abort();
  AdvReport r;
  r.data = in;
  std::string line;
  append_report_json(line, 1, 0, r, ad);
  if (!nlohmann::json::accept(line)) std::abort();
  return 0;
}
