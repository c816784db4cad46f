// A Kubernetes REST client on the shared HTTPS client (Beast): where the
// apiserver is and who we are (a kubeconfig or the pod's service account),
// requests with retries on 429/5xx that honour Retry-After, and list+watch
// loops that keep a cache current (resourceVersion, bookmarks, resume after
// a dropped watch, relist after 410 Gone).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/https_client.hpp"
#include "common/result.hpp"

namespace c4i::orchestrator::k8s {

// Private copies of PEM data from a kubeconfig (*-data fields), in a 0700
// directory of 0600 files, removed when the last endpoint using them goes.
class PemFiles {
 public:
  static Result<std::shared_ptr<PemFiles>> create();
  ~PemFiles();
  Result<std::string> write(const std::string& name, const std::string& pem);

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

// Everything needed to open a connection to the apiserver.
struct Endpoint {
  http::ClientOptions options;  // host, port, TLS (CA, client certificate), bearer token
  std::string token_file;       // re-read every minute when set (projected tokens rotate)
  std::string ns;               // the kubeconfig context's or the pod's namespace
  std::string description;      // "kubeconfig FILE (context C)" or "in-cluster", for messages
  std::shared_ptr<PemFiles> pem_files;
};

// Reads a kubeconfig file (clusters, users, contexts; certificate-authority
// (-data), client-certificate(-data), client-key(-data), token, tokenFile).
Result<Endpoint> endpoint_from_kubeconfig(const std::string& path, const std::string& context = "");
// The pod's service account: KUBERNETES_SERVICE_HOST/PORT and
// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}.
// `sa_dir` overrides that folder (tests).
Result<Endpoint> endpoint_in_cluster(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Percent-encodes a query value (RFC 3986, 2.3 unreserved characters kept).
std::string url_encode(const std::string& s);

// Blocking requests; one per thread (like http::Client).
class Client {
 public:
  // `request_timeout`: per attempt (leader election keeps it under its retry period).
  explicit Client(Endpoint endpoint, std::chrono::milliseconds request_timeout = std::chrono::milliseconds(15'000),
                  int max_attempts = 4);
  // One request; 429/502/503/504 and transport failures are retried (Retry-After honoured).
  Result<http::ClientResponse> call(const std::string& method, const std::string& path, const std::string& body = {},
                                    const std::string& content_type = {}, bool retry = true);
  // A streamed GET (watch). See http::Client::stream.
  Result<int> stream(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                     std::chrono::milliseconds idle_timeout);
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  void refresh_token();
  Endpoint endpoint_;
  std::unique_ptr<http::Client> http_;
  std::chrono::steady_clock::time_point token_read_{};
};

// The message of a Kubernetes Status body ({"kind":"Status","message":...}), or the raw body.
std::string status_message(const http::ClientResponse& r);

// List then watch one collection on its own thread, forever: the informer
// pattern of client-go, small. The handlers run on the watch thread.
class Watch {
 public:
  struct Handlers {
    // The whole collection, after each (re)list.
    std::function<void(const std::vector<nlohmann::json>& items)> replace;
    // ADDED | MODIFIED | DELETED with the object.
    std::function<void(const std::string& type, const nlohmann::json& object)> event;
  };
  // `collection`: "/api/v1/nodes", "/api/v1/namespaces/NS/pods"...
  Watch(Endpoint endpoint, std::string collection, std::string label_selector, Handlers handlers);
  ~Watch();
  // One object by name (fieldSelector metadata.name=NAME): RBAC may then
  // grant list and watch on that name alone. Before start().
  void set_field_selector(std::string selector) { field_selector_ = std::move(selector); }
  void start();
  void stop();
  // Blocks until the first list arrived (or the timeout passed, or stop()).
  bool wait_synced(std::chrono::milliseconds timeout);
  const std::string& collection() const { return collection_; }

  std::uint64_t lists() const { return lists_.load(); }
  std::uint64_t resumes() const { return resumes_.load(); }  // watches reopened from a resourceVersion
  std::uint64_t gone() const { return gone_.load(); }        // 410 Gone: the resourceVersion was too old
  std::string last_error() const;

 private:
  void loop();
  Result<std::string> list(Client& c);  // returns the resourceVersion
  void pause(std::chrono::milliseconds d);
  std::string selector_query() const;

  Endpoint endpoint_;
  std::string collection_, label_selector_, field_selector_;
  Handlers handlers_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool synced_ = false;
  std::string last_error_;
  std::atomic<std::uint64_t> lists_{0}, resumes_{0}, gone_{0};
};

}  // namespace c4i::orchestrator::k8s
