// c4i-test-function: the IoT function the orchestrator tests run. It does
// what a function's reader does at its start: posts the first_data mark for
// C4I_FUNCTION to C4I_ORCHESTRATOR_URL, then runs until SIGTERM.
//   C4I_TEST_CA     CA to verify the orchestrator
//   C4I_TEST_TOKEN  bearer token (operator) for the mark
//   C4I_TEST_CERT / C4I_TEST_KEY  or a client certificate instead of the token
//   C4I_TEST_EXIT_AFTER_MS  exit with status 3 after this long (a crashing function)
//   C4I_TEST_NO_MARK        do not post the mark
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "common/https_client.hpp"

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }
}  // namespace

int main() {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  std::string url = env("C4I_ORCHESTRATOR_URL"), fn = env("C4I_FUNCTION");
  std::cout << "function " << fn << " on " << env("C4I_NODE") << " device " << env("C4I_DEVICE") << " pid " << getpid()
            << std::endl;
  auto start = std::chrono::steady_clock::now();
  if (env("C4I_TEST_NO_MARK").empty() && url.rfind("https://", 0) == 0) {
    std::string hostport = url.substr(8);
    auto colon = hostport.rfind(':');
    c4i::http::ClientOptions o;
    o.host = hostport.substr(0, colon);
    o.port = static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1)));
    o.tls.ca_file = env("C4I_TEST_CA");
    o.tls.cert_file = env("C4I_TEST_CERT");
    o.tls.key_file = env("C4I_TEST_KEY");
    o.bearer_token = env("C4I_TEST_TOKEN");
    o.retry = {20, std::chrono::milliseconds(50), std::chrono::milliseconds(500)};
    c4i::http::Client client(o);
    auto t = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto r = client.request("POST", "/v1/functions/" + fn + "/marks",
                            "{\"mark\":\"first_data\",\"t\":" + std::to_string(t) + "}",
                            {{"Content-Type", "application/json"}});
    if (!r) std::cout << "mark failed: " << r.error().message << std::endl;
    else std::cout << "mark: " << r->status << " " << r->body << std::endl;
  }
  long exit_after = env("C4I_TEST_EXIT_AFTER_MS").empty() ? -1 : std::stol(env("C4I_TEST_EXIT_AFTER_MS"));
  while (!g_stop) {
    if (exit_after >= 0 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(exit_after)) return 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cout << "stopping" << std::endl;
  return 0;
}
