// c4i-orchestrator: the Cloud4IoT orchestrator with the embedded or the kubernetes backend.
//   c4i-orchestrator [--config FILE] [--listen HOST:PORT] [--port-file FILE] [--state-dir DIR]
//                    [--topology FILE] [--tokens FILE] [--tls-cert F --tls-key F] [--client-ca F]
//                    [--log-format text|json] [--log-level L]
//                    [--backend embedded|kubernetes|docker] [--kubeconfig FILE [--context C]] [--namespace NS]
//                    [--reader-image IMAGE] [--leader-elect [--lease-name N] [--lease-duration-s S]
//                    [--renew-deadline-ms MS] [--retry-period-ms MS] [--identity ID]]
//     kubernetes: --kubeconfig (or $KUBECONFIG), else the pod's service account (in-cluster).
//     The state lives in the cluster's objects (orchestrator/cluster_state.hpp); the
//     state directory holds only a working copy, rebuilt at each start.
//   c4i-orchestrator hash-token [TOKEN]     (reads the token from stdin when absent)
// Exit codes: 0 clean stop, 1 runtime failure, 2 bad command line or configuration.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/https_server.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/x509.hpp"
#include "orchestrator/api.hpp"
#include "orchestrator/cluster_state.hpp"
#include "orchestrator/controller.hpp"
#include "orchestrator/dashboard.hpp"
#include "orchestrator/docker_backend.hpp"
#include "orchestrator/embedded_backend.hpp"
#include "orchestrator/enrolment.hpp"
#include "orchestrator/forwarder.hpp"
#include "orchestrator/hub.hpp"
#include "orchestrator/kubernetes_backend.hpp"
#include "orchestrator/leader_election.hpp"
#include "orchestrator/settings.hpp"
#include "orchestrator/state.hpp"
#include "orchestrator/store.hpp"
#include "placement/placement.hpp"

namespace fs = std::filesystem;
using namespace c4i;
using namespace c4i::orchestrator;

namespace {
[[noreturn]] void usage_error(const std::string& line) {
  std::cerr << "c4i-orchestrator: " << line << "\n";
  std::exit(2);
}

int hash_token(const std::string& token_arg) {
  std::string token = token_arg;
  if (token.empty()) std::getline(std::cin, token);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) usage_error("hash-token: no token given (argument or one line on stdin)");
  std::cout << sha256_hex(token) << "\n";
  return 0;
}

Status write_port_file(const std::string& path, std::uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return Error{"io_error", "cannot write " + tmp};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic: a reader never sees a half-written port
  if (ec) return Error{"io_error", "rename " + tmp + ": " + ec.message()};
  return ok_status();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cloud4IoT orchestrator: REST API, durable state, control loop, embedded backend"};
  app.set_version_flag("--version", "c4i-orchestrator 0.1.0");
  std::string config_file, listen, port_file, state_dir, topology, tokens, tls_cert, tls_key, client_ca, log_format, log_level;
  app.add_option("--config", config_file, "YAML configuration file");
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)");
  app.add_option("--port-file", port_file, "write the bound port to this file");
  app.add_option("--state-dir", state_dir, "directory of the state database and function logs");
  app.add_option("--topology", topology, "embedded backend topology YAML");
  app.add_option("--tokens", tokens, "bearer token file YAML");
  app.add_option("--tls-cert", tls_cert, "server certificate chain (PEM)");
  app.add_option("--tls-key", tls_key, "server private key (PEM)");
  app.add_option("--client-ca", client_ca, "CA of gateway client certificates (PEM)");
  std::string ca_cert, ca_key;
  app.add_option("--ca-cert", ca_cert, "enrolment: the fleet CA certificate that signs gateway certificates (PEM)");
  app.add_option("--ca-key", ca_key, "enrolment: that CA's private key (PEM)");
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  std::string backend_name = "embedded", kubeconfig, kube_context, kube_namespace, reader_image;
  app.add_option("--backend", backend_name,
                 "where functions run: embedded (child processes), kubernetes, or docker (one engine per node, from --topology)")
      ->check(CLI::IsMember({"embedded", "kubernetes", "docker"}));
  app.add_option("--kubeconfig", kubeconfig, "kubernetes: kubeconfig file (default $KUBECONFIG, else in-cluster)");
  app.add_option("--context", kube_context, "kubernetes: kubeconfig context (default current-context)");
  app.add_option("--namespace", kube_namespace, "kubernetes: namespace of the functions' Deployments");
  app.add_option("--reader-image", reader_image, "kubernetes: image of the reader container (default: the function's)");
  std::int64_t usage_interval_ms = 10'000;
  app.add_option("--usage-interval-ms", usage_interval_ms,
                 "kubernetes: how often node usage is read from metrics.k8s.io (0: never)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000}));
  std::size_t apply_concurrency = 0;
  app.add_option("--apply-concurrency", apply_concurrency,
                 "migrations carried out at once: kubernetes Deployment writes and the state's cluster objects (one connection each, default 16) "
                 "or embedded process moves (default 4); docker: 1")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}));
  std::int64_t cluster_defer_ms = 1000;
  app.add_option("--cluster-defer-ms", cluster_defer_ms,
                 "kubernetes: a migration's later steps and a function's observed status reach the cluster's objects at most "
                 "this late, each object's changes since in one write (0: with every commit)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{60'000}));
  bool leader_elect = false;
  std::string lease_name = "c4i-orchestrator", identity;
  std::int64_t lease_duration_s = 15, renew_deadline_ms = 10'000, retry_period_ms = 2'000, follower_sync_ms = 1'000;
  app.add_flag("--leader-elect", leader_elect,
               "kubernetes: elect one leader among replicas on a coordination.k8s.io Lease; only it decides and writes");
  app.add_option("--lease-name", lease_name, "kubernetes: the Lease's name (in --namespace)");
  app.add_option("--lease-duration-s", lease_duration_s, "kubernetes: how long a Lease holds without renewal")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}));
  app.add_option("--renew-deadline-ms", renew_deadline_ms, "kubernetes: a leader that could not renew for this long stops acting")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  app.add_option("--retry-period-ms", retry_period_ms, "kubernetes: how often the Lease is read and renewed")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  std::string leader_url;
  app.add_option("--leader-url", leader_url, "kubernetes: this replica's own REST address, written on the Lease while it leads");
  app.add_option("--identity", identity, "kubernetes: this replica's name on the Lease (default: hostname_pid)");
  app.add_option("--follower-sync-ms", follower_sync_ms, "kubernetes: how often a follower reloads its copy from the cluster")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{3'600'000}));
  auto* hash = app.add_subcommand("hash-token", "print the sha256 hash of a token for the token file");
  std::string token_arg;
  hash->add_option("token", token_arg, "the token (default: one line from stdin)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
  if (hash->parsed()) return hash_token(token_arg);

  Settings s;
  if (!config_file.empty()) {
    auto loaded = load_settings_file(config_file);
    if (!loaded) usage_error(loaded.error().message);
    s = *loaded;
  }
  if (!listen.empty())
    if (auto st = parse_listen(listen, s.listen_address, s.listen_port); !st) usage_error("--listen: " + st.error().message);
  if (!port_file.empty()) s.port_file = port_file;
  if (!state_dir.empty()) s.state_dir = state_dir;
  if (!topology.empty()) s.topology_file = topology;
  if (!tokens.empty()) s.tokens_file = tokens;
  if (!tls_cert.empty()) s.tls_cert = tls_cert;
  if (!tls_key.empty()) s.tls_key = tls_key;
  if (!client_ca.empty()) s.client_ca = client_ca;
  if (!ca_cert.empty()) s.enrol_ca_cert = ca_cert;
  if (!ca_key.empty()) s.enrol_ca_key = ca_key;
  if (s.enrol_ca_cert.empty() != s.enrol_ca_key.empty()) usage_error("enrolment: --ca-cert and --ca-key go together");
  if (s.client_ca.empty()) s.client_ca = s.enrol_ca_cert;  // gateways present certificates this CA signed
  if (!log_format.empty()) s.log_format = log_format;
  if (!log_level.empty()) s.log_level = log_level;
  if (s.tls_cert.empty() || s.tls_key.empty()) usage_error("tls: a server certificate and key are required (--tls-cert, --tls-key)");
  bool kube = backend_name == "kubernetes";
  bool dock = backend_name == "docker";
  if (!kube && s.topology_file.empty()) usage_error("topology: the " + backend_name + " backend needs a topology file (--topology)");
  if (s.tokens_file.empty()) usage_error("tokens: a token file is required (--tokens)");

  auto fmt = log::parse_format(s.log_format);
  auto lvl = log::parse_level(s.log_level);
  if (!fmt) usage_error(fmt.error().message);
  if (!lvl) usage_error(lvl.error().message);
  log::init("c4i-orchestrator", *fmt, *lvl);

  std::vector<TopologyNode> topology_nodes;
  docker::DockerTopology docker_topology;
  if (dock) {
    auto t = docker::load_docker_topology_file(s.topology_file);
    if (!t) usage_error(t.error().message);
    docker_topology = std::move(*t);
  } else if (!kube) {
    auto nodes = load_topology_file(s.topology_file);
    if (!nodes) usage_error(nodes.error().message);
    topology_nodes = *nodes;
  }
  std::optional<k8s::Endpoint> kube_endpoint;
  if (kube) {
    if (kubeconfig.empty())
      if (const char* env = std::getenv("KUBECONFIG"); env && *env) kubeconfig = env;
    auto ep = kubeconfig.empty() ? k8s::endpoint_in_cluster() : k8s::endpoint_from_kubeconfig(kubeconfig, kube_context);
    if (!ep) usage_error("kubernetes: " + ep.error().message);
    kube_endpoint = std::move(*ep);
    if (kube_namespace.empty()) kube_namespace = kube_endpoint->ns.empty() ? "default" : kube_endpoint->ns;
  }
  ElectionTiming timing{std::chrono::seconds(lease_duration_s), std::chrono::milliseconds(renew_deadline_ms),
                        std::chrono::milliseconds(retry_period_ms)};
  if (leader_elect) {
    if (!kube) usage_error("--leader-elect: only with --backend kubernetes (the Lease and the state live in the cluster)");
    if (auto st = validate(timing); !st) usage_error(st.error().message);
    if (identity.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      identity = std::string(host) + "_" + std::to_string(::getpid());
    }
  }
  auto token_entries = load_tokens_file(s.tokens_file);
  if (!token_entries) usage_error(token_entries.error().message);

  std::error_code ec;
  fs::create_directories(s.state_dir + "/logs", ec);
  if (ec) usage_error("state_dir: cannot create " + s.state_dir + "/logs: " + ec.message());
  std::string owner = fs::weakly_canonical(s.state_dir, ec).string();

  if (kube) {
    // The cluster holds the state: what a previous run left here is a stale copy.
    for (const char* f : {"/state.db", "/state.db-wal", "/state.db-shm"}) fs::remove(s.state_dir + f, ec);
  }
  auto store = Store::open(s.state_dir + "/state.db");
  if (!store) {
    spdlog::critical("state database: {}", store.error().message);
    return 1;
  }
  metrics::Registry registry;
  Hub hub;
  State state(**store);
  Enrolment enrolment(**store, registry,
                      {s.enrol_ca_cert, s.enrol_ca_key, s.enrol_cert_lifetime_s, s.enrol_max_token_ttl_s});
  std::unique_ptr<ClusterState> cluster;
  std::atomic<bool> acting{!kube};  // kubernetes: after the copy is loaded (and, electing, while leading)
  std::unique_ptr<LeaderElector> elector;
  if (kube) {
    ClusterOptions co{*kube_endpoint, kube_namespace};
    if (apply_concurrency) co.writers = apply_concurrency;  // the cluster's state is written as wide as moves are applied
    co.defer = std::chrono::milliseconds(cluster_defer_ms);
    co.metrics = &registry;
    cluster = std::make_unique<ClusterState>(**store, co);
    cluster->set_may_write([&] { return acting.load() && (!elector || elector->leading()); });
    (*store)->set_replicate([&](const std::vector<Change>& changes) { return cluster->replicate(changes); });
    cluster->set_on_loaded([&](const std::vector<Change>& changes) {
      hub.publish(changes);
      // Another replica may have revoked a gateway: refuse it here too.
      for (const auto& c : changes)
        if (c.kind == "gateways") {
          if (auto st = enrolment.reload(); !st) spdlog::error("enrolment: reloading the revoked gateways: {}", st.error().message);
          break;
        }
    });
    // A cluster just started (or a CRD just created) answers 429 for a while.
    auto loaded = cluster->hydrate();
    for (int attempt = 1; !loaded && attempt < 30; ++attempt) {
      spdlog::warn("kubernetes: loading the state: {}; retrying", loaded.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      loaded = cluster->hydrate();
    }
    if (!loaded) {
      spdlog::critical("kubernetes: cannot load the state from the cluster ({}); are the CRDs installed "
                       "(kubectl apply -f manifests/crds/) and may the service account list them?",
                       loaded.error().message);
      return 1;
    }
    spdlog::info("state: loaded {} object(s) from namespace {}", *loaded, kube_namespace);
    if (!leader_elect) acting = true;
  }

  http::ServerOptions so;
  so.address = s.listen_address;
  so.port = s.listen_port;
  so.tls.cert_file = s.tls_cert;
  so.tls.key_file = s.tls_key;
  if (!s.client_ca.empty()) {
    so.tls.client_ca_file = s.client_ca;
    so.tls.client_cert = tls::ClientCertMode::optional;  // operators use tokens, gateways certificates
  }
  so.max_body_bytes = s.max_body_bytes;
  so.threads = s.threads;
  so.server_name = "c4i-orchestrator";
  http::Server server(so);
  server.set_metrics(&registry);
  if (auto st = server.start(); !st) {
    spdlog::critical("{}", st.error().message);
    return st.error().code == "tls_config" ? 2 : 1;
  }
  std::string url = s.advertise_url.empty()
                        ? "https://" + (s.listen_address == "0.0.0.0" ? std::string("127.0.0.1") : s.listen_address) + ":" +
                              std::to_string(server.port())
                        : s.advertise_url;

  std::unique_ptr<EmbeddedBackend> embedded;
  std::unique_ptr<KubernetesBackend> kubernetes;
  std::unique_ptr<DockerBackend> docker_backend;
  if (dock) {
    DockerOptions dopt;
    dopt.topology = docker_topology;
    dopt.owner = owner;
    dopt.orchestrator_url = url;
    dopt.restart_base = std::chrono::milliseconds(s.restart_base_ms);
    dopt.restart_max = std::chrono::milliseconds(s.restart_max_ms);
    docker_backend = std::make_unique<DockerBackend>(dopt);
    if (auto st = docker_backend->start(); !st) {
      spdlog::critical("{}", st.error().message);
      return 1;
    }
  } else if (kube) {
    KubernetesOptions ko;
    ko.endpoint = *kube_endpoint;
    ko.ns = kube_namespace;
    ko.usage_interval = std::chrono::milliseconds(usage_interval_ms);
    if (apply_concurrency) ko.apply_concurrency = apply_concurrency;
    ko.reader_image = reader_image;
    ko.orchestrator_url = url;
    kubernetes = std::make_unique<KubernetesBackend>(ko);
    if (auto st = kubernetes->start(); !st) {
      spdlog::critical("{}", st.error().message);
      return st.error().code == "invalid_config" ? 2 : 1;
    }
  } else {
    EmbeddedOptions eo;
    if (apply_concurrency) eo.apply_concurrency = apply_concurrency;
    eo.nodes = topology_nodes;
    eo.owner = owner;
    eo.log_dir = s.state_dir + "/logs";
    eo.orchestrator_url = url;
    eo.stop_grace = std::chrono::milliseconds(s.stop_grace_ms);
    eo.restart_base = std::chrono::milliseconds(s.restart_base_ms);
    eo.restart_max = std::chrono::milliseconds(s.restart_max_ms);
    embedded = std::make_unique<EmbeddedBackend>(eo);
    if (int n = embedded->kill_leftovers(); n > 0) spdlog::warn("killed {} leftover function process(es)", n);
  }
  Backend& backend = kube ? static_cast<Backend&>(*kubernetes)
                     : dock ? static_cast<Backend&>(*docker_backend)
                            : static_cast<Backend&>(*embedded);

  auto backend_nodes = backend.list_nodes();
  if (!backend_nodes) {
    spdlog::critical("backend nodes: {}", backend_nodes.error().message);
    return 1;
  }
  if (auto st = state.sync_topology(*backend_nodes); !st) {
    spdlog::critical("state: {}", st.error().message);
    return 1;
  }
  if (acting)
    if (auto st = state.ensure_policy(placement::to_json(placement::Policy{})); !st) {
      spdlog::critical("state: {}", st.error().message);
      return 1;
    }

  ControllerOptions co;
  co.interval = std::chrono::milliseconds(s.reconcile_interval_ms);
  co.retry_base = std::chrono::milliseconds(s.retry_base_ms);
  co.retry_max = std::chrono::milliseconds(s.retry_max_ms);
  co.migration_retention = std::chrono::seconds(s.migration_retention_s);
  Controller controller(state, backend, registry, co);
  controller.set_gate([&] { return acting.load() && (!elector || elector->leading()); });
  auto commit_listener = (*store)->add_commit_listener([&](const std::vector<Change>& changes) {
    hub.publish(changes);
    for (const auto& c : changes)
      if (c.kind != "migrations" || c.op == "created") {
        controller.wake();
        break;
      }
  });
  if (kubernetes) {
    // Pod and node changes arrive on watch threads: wake the loop at once, keep the node table current.
    kubernetes->set_on_change([&controller] { controller.wake(); });
    kubernetes->set_on_nodes([&state](const std::vector<BackendNode>& nodes) {
      if (auto st = state.sync_topology(nodes); !st) spdlog::error("state: nodes from the cluster: {}", st.error().message);
    });
    kubernetes->set_on_usage([&state](const std::vector<NodeUsage>& usage) {
      if (auto st = state.record_node_usage(usage); !st) spdlog::error("state: node usage: {}", st.error().message);
    });
  }
  if (docker_backend) {
    docker_backend->set_on_change([&controller] { controller.wake(); });
    docker_backend->set_on_usage([&state](const std::vector<NodeUsage>& usage) {
      if (auto st = state.record_node_usage(usage); !st) spdlog::error("state: node usage: {}", st.error().message);
    });
  }
  Api api(state, controller, hub, registry, *token_entries, s);
  api.install(server);
  // Leader election: a sync thread turns leadership into acting (the copy
  // reloaded from the cluster first) and keeps a follower's copy fresh.
  std::mutex sync_mu;
  std::condition_variable sync_cv;
  bool sync_stop = false, sync_kick = false;
  std::thread sync_thread;
  std::function<void()> start_election;  // once nothing can fail before serving
  std::unique_ptr<Forwarder> forwarder;
  const std::string own_url = leader_url.empty() ? url : leader_url;  // written on the Lease while leading
  if (leader_elect) {
    // Followers forward a gateway's events to the leader, speaking with the
    // certificate every replica holds (the leader knows it as its own).
    if (!s.client_ca.empty()) {
      if (auto cert = x509::inspect_cert_file(s.tls_cert)) {
        api.set_replica_certificate(cert->sha256_hex);
        forwarder = std::make_unique<Forwarder>(ForwarderOptions{s.tls_cert, s.tls_key, s.client_ca, cert->common_name});
      } else {
        spdlog::warn("{}; followers answer gateways 503 instead of forwarding to the leader", cert.error().message);
      }
    }
    ElectorOptions eo{*kube_endpoint, kube_namespace, lease_name, identity, own_url, timing};
    elector = std::make_unique<LeaderElector>(eo);
    auto kick = [&] {
      {
        std::lock_guard lock(sync_mu);
        sync_kick = true;
      }
      sync_cv.notify_all();
    };
    elector->set_on_started(kick);
    elector->set_on_stopped([&, kick] {
      acting = false;  // at once: nothing more is decided or written
      kick();
    });
    api.set_write_gate([&](const http::Request& req) -> std::optional<http::Response> {
      if (acting.load() && elector->leading()) return std::nullopt;
      std::string leader = elector->leader_identity(), where = elector->leader_url();
      // A gateway's events go on to the leader (once: never what was forwarded to us).
      const std::string* gw = req.param("gateway");
      if (forwarder && gw && req.method == "POST" && req.path == "/v1/gateways/" + *gw + "/events" &&
          !req.header(Api::kForwardedGateway) && !where.empty() && where != own_url)
        if (auto r = forwarder->forward(where, req, *gw)) return r;
      auto r = http::error_response(503, "not_leader",
                                    "this replica (" + identity + ") is not the leader" +
                                        (leader.empty() ? std::string("; no leader yet") : "; the leader is " + leader) +
                                        (where.empty() ? "" : " at " + where) + "; retry");
      r.headers.emplace_back("Retry-After", "1");
      // A kept-alive connection through a Service sticks to this replica:
      // closing it lets the client's next connection reach the leader.
      r.close = true;
      if (!where.empty()) r.headers.emplace_back("X-C4I-Leader", where);
      return r;
    });
    start_election = [&] {
      sync_thread = std::thread([&] {
        while (true) {
          {
            std::unique_lock lock(sync_mu);
            sync_cv.wait_for(lock, std::chrono::milliseconds(follower_sync_ms), [&] { return sync_stop || sync_kick; });
            if (sync_stop) return;
            sync_kick = false;
          }
          if (elector->leading()) {
            if (acting) continue;
            // Newly elected: start from what the cluster holds now, then act.
            auto t0 = now_ms();
            cluster->drop_pending();
            auto loaded = cluster->hydrate();
            if (!loaded) {
              spdlog::warn("leading: loading the state failed ({}); retrying", loaded.error().message);
              std::lock_guard lock(sync_mu);
              sync_kick = true;
              continue;
            }
            acting = true;
            if (auto st = state.ensure_policy(placement::to_json(placement::Policy{})); !st)
              spdlog::error("state: {}", st.error().message);
            spdlog::info("leading: working copy loaded from {} object(s) in {} ms; acting (at {} ms)", *loaded, now_ms() - t0,
                         now_ms());
            controller.wake();
          } else {
            acting = false;
            if (auto loaded = cluster->hydrate(); !loaded)
              spdlog::warn("following: reloading the state failed: {}", loaded.error().message);
          }
        }
      });
      elector->start();
    };
  }
  if (auto st = enrolment.start(); !st) {
    spdlog::critical("{}", st.error().message);
    controller.stop();
    if (kubernetes) kubernetes->stop_watches();
    return 2;
  }
  enrolment.install(server, api);
  install_dashboard(server);  // GET / and /ui/*: static files, no token
  controller.start();

  if (!s.port_file.empty())
    if (auto st = write_port_file(s.port_file, server.port()); !st) {
      spdlog::critical("{}", st.error().message);
      controller.stop();
      if (kubernetes) kubernetes->stop_watches();
      if (docker_backend) docker_backend->stop_watches();
      return 1;
    }
  if (start_election) start_election();
  spdlog::info("listening on https://{}:{} (state {}, {} node(s), {} token(s))", s.listen_address, server.port(),
               s.state_dir, backend_nodes->size(), token_entries->size());
  server.run_until_signal();
  controller.stop();
  if (elector) {
    {
      std::lock_guard lock(sync_mu);
      sync_stop = true;
    }
    sync_cv.notify_all();
    if (sync_thread.joinable()) sync_thread.join();
    elector->stop();  // releases the Lease: a successor need not wait it out
  }
  if (embedded) embedded->stop_all();
  if (kubernetes) kubernetes->stop_watches();  // the Deployments stay: the cluster keeps running them
  if (docker_backend) docker_backend->stop_watches();  // the containers stay: adopted at the next start
  (*store)->remove_commit_listener(commit_listener);
  spdlog::info("stopped");
  return 0;
}
