// Fuzzes the btsnoop reader: every record it yields lies inside the input.
#include <cstdint>

#include "common/btsnoop.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = c4i::btsnoop::Reader::open({data, size});
  if (!r) return 0;
  c4i::btsnoop::Packet p;
  while (r->next(p)) {
    if (p.data.data() < data || p.data.data() + p.data.size() > data + size) __builtin_trap();
  }
  return 0;
}
