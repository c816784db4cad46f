// c4i-test-server: the shared HTTPS server with a few routes, as a real
// process for tests that signal it (SIGTERM drain) and for the server bench.
#include <CLI/CLI.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/https_server.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{"test HTTPS server"};
  c4i::http::ServerOptions o;
  std::string port_file, client_cert = "none";
  app.add_option("--address", o.address);
  app.add_option("--port", o.port);
  app.add_option("--port-file", port_file);
  app.add_option("--cert", o.tls.cert_file)->required();
  app.add_option("--key", o.tls.key_file)->required();
  app.add_option("--client-ca", o.tls.client_ca_file);
  app.add_option("--client-cert", client_cert)->check(CLI::IsMember({"none", "optional", "required"}));
  app.add_option("--threads", o.threads);
  CLI11_PARSE(app, argc, argv);
  o.tls.client_cert = client_cert == "required"   ? c4i::tls::ClientCertMode::required
                      : client_cert == "optional" ? c4i::tls::ClientCertMode::optional
                                                  : c4i::tls::ClientCertMode::none;
  c4i::log::init("c4i-test-server", c4i::log::Format::text);

  c4i::http::Server server(o);
  server.route("GET", "/hello", [](c4i::http::Request&) {
    return c4i::http::json_response(200, {{"hello", "world"}});
  });
  server.route("GET", "/slow", [](c4i::http::Request& r) {
    int ms = 500;
    if (auto* v = r.query_value("ms")) ms = std::stoi(*v);
    // Tell a test the request is being handled, so it can act on that instant.
    if (auto* mark = r.query_value("mark")) std::ofstream(*mark) << "handling\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return c4i::http::json_response(200, {{"slept_ms", ms}});
  });
  if (auto s = server.start(); !s) {
    std::fprintf(stderr, "c4i-test-server: %s\n", s.error().message.c_str());
    return 2;
  }
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << server.port() << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  server.run_until_signal();
  return 0;
}
