// What both IoT functions share at run time: their identity from the
// orchestrator's environment, the sample stream (stdin or a Unix stream socket
// the reader connects to) and SIGTERM/SIGINT as a stop request. The HTTPS
// upstream sender is in upstream_sender.hpp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "images/heart_rate.hpp"

namespace c4i::functions {

// C4I_NODE, C4I_FUNCTION, C4I_DEVICE, C4I_DEVICE_ADDR (empty when unset).
FunctionIdentity identity_from_env();
std::string env_or_empty(const char* name);

// Seconds on the monotonic clock (window flush deadlines) and since the epoch.
double monotonic_s();
double unix_now_s();

// The sample stream: "-" (stdin, ends at EOF) or "unix:PATH" (a SOCK_STREAM
// socket this function listens on; the reader connects, and may reconnect
// after a restart; the stream ends only on a stop request).
struct LoopCallbacks {
  std::function<void(std::string_view line)> on_line;
  std::function<void()> on_oversized_line;              // a line over kMaxSampleLineBytes, skipped
  std::function<std::optional<double>()> next_deadline;  // monotonic seconds; nullopt: none
  std::function<void()> on_deadline;                    // called once the deadline has passed
};
enum class LoopEnd { end_of_input, stop_requested };
// The --input default: "unix:$C4I_READER_SOCKET" when the orchestrator runs a
// reader beside the function (the docker and kubernetes backends set it), else "-".
std::string default_input_spec();
// Installs SIGTERM/SIGINT handlers and runs until the input ends or a signal arrives.
Result<LoopEnd> run_line_loop(const std::string& input_spec, const LoopCallbacks& cb);

}  // namespace c4i::functions
