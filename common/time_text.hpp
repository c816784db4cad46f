// Unix times as RFC 3339 text in UTC, for what people and the Kubernetes API read.
#pragma once

#include <cstdint>
#include <string>

namespace c4i {

// "2026-12-01T12:00:00.123Z"; `micro`: "2026-12-01T12:00:00.123000Z", the form
// of a Kubernetes MicroTime. Times before 1970 round down to the whole second.
std::string rfc3339_utc(std::int64_t unix_ms, bool micro = false);

}  // namespace c4i
