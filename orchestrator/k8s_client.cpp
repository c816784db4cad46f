#include "orchestrator/k8s_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/config.hpp"
#include "orchestrator/k8s_objects.hpp"

namespace c4i::orchestrator::k8s {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"invalid_config", "cannot read " + path};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

http::RetryPolicy default_retry() {
  http::RetryPolicy r;
  r.max_attempts = 4;
  r.base = std::chrono::milliseconds(100);
  r.max = std::chrono::milliseconds(2'000);
  return r;
}
}  // namespace

// ---------------------------------------------------------------- PemFiles

Result<std::shared_ptr<PemFiles>> PemFiles::create() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/c4i-kube-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) return Error{"io_error", "cannot create a private directory from " + tmpl};
  auto p = std::shared_ptr<PemFiles>(new PemFiles());
  p->dir_ = buf.data();
  return p;
}

PemFiles::~PemFiles() {
  for (const auto& f : files_) ::unlink(f.c_str());
  if (!dir_.empty()) ::rmdir(dir_.c_str());
}

Result<std::string> PemFiles::write(const std::string& name, const std::string& pem) {
  std::string path = dir_ + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"io_error", "cannot create " + path};
  files_.push_back(path);
  std::size_t off = 0;
  while (off < pem.size()) {
    ssize_t n = ::write(fd, pem.data() + off, pem.size() - off);
    if (n <= 0) {
      ::close(fd);
      return Error{"io_error", "cannot write " + path};
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return path;
}

// ---------------------------------------------------------------- endpoints

Result<Endpoint> endpoint_from_kubeconfig(const std::string& path, const std::string& context) {
  auto root = config::load_file(path);
  if (!root) return root.error();
  std::error_code ec;
  std::string dir = fs::absolute(fs::path(path), ec).parent_path().string();
  auto kc = parse_kubeconfig(*root, dir, context);
  if (!kc) return kc.error();
  Endpoint e;
  e.description = "kubeconfig " + path + (context.empty() ? "" : " (context " + context + ")");
  e.options.host = kc->host;
  e.options.port = kc->port;
  e.options.server_name = kc->tls_server_name.empty() ? kc->host : kc->tls_server_name;
  e.options.tls.verify_server = !kc->insecure_skip_tls_verify;
  e.options.tls.ca_file = kc->ca_file;
  e.options.tls.cert_file = kc->cert_file;
  e.options.tls.key_file = kc->key_file;
  if (!kc->ca_pem.empty() || !kc->cert_pem.empty() || !kc->key_pem.empty()) {
    auto files = PemFiles::create();
    if (!files) return files.error();
    e.pem_files = *files;
    if (!kc->ca_pem.empty()) {
      auto p = e.pem_files->write("ca.crt", kc->ca_pem);
      if (!p) return p.error();
      e.options.tls.ca_file = *p;
    }
    if (!kc->cert_pem.empty()) {
      auto p = e.pem_files->write("client.crt", kc->cert_pem);
      if (!p) return p.error();
      e.options.tls.cert_file = *p;
    }
    if (!kc->key_pem.empty()) {
      auto p = e.pem_files->write("client.key", kc->key_pem);
      if (!p) return p.error();
      e.options.tls.key_file = *p;
    }
  }
  e.options.bearer_token = kc->token;
  e.token_file = kc->token_file;
  e.ns = kc->ns;
  if (e.options.bearer_token.empty() && !e.token_file.empty()) {
    auto t = read_text(e.token_file);
    if (!t) return Error{"invalid_config", path + ": users.user.tokenFile: " + t.error().message};
    e.options.bearer_token = trim(*t);
  }
  return e;
}

Result<Endpoint> endpoint_in_cluster(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return Error{"invalid_config", "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)"};
  std::string h = host;
  std::string url = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  Endpoint e;
  e.description = "in-cluster (" + url + ")";
  if (auto st = parse_server_url(url, e.options.host, e.options.port); !st) return st.error();
  // As client-go's rest.InClusterConfig: the certificate is checked against
  // the service's IP (the apiserver's serving certificate carries it).
  e.options.server_name = e.options.host;
  e.options.tls.ca_file = sa_dir + "/ca.crt";
  e.token_file = sa_dir + "/token";
  auto t = read_text(e.token_file);
  if (!t) return Error{"invalid_config", "in-cluster: " + t.error().message};
  e.options.bearer_token = trim(*t);
  if (auto ns = read_text(sa_dir + "/namespace")) e.ns = trim(*ns);
  return e;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string status_message(const http::ClientResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string b = r.body.substr(0, 200);
  for (char& c : b)
    if (c == '\n' || c == '\r') c = ' ';
  return b;
}

// ---------------------------------------------------------------- Client

Client::Client(Endpoint endpoint, std::chrono::milliseconds request_timeout, int max_attempts)
    : endpoint_(std::move(endpoint)) {
  endpoint_.options.retry = default_retry();
  endpoint_.options.retry.max_attempts = max_attempts;
  endpoint_.options.user_agent = "c4i-orchestrator/0.1.0 (cloud4iot)";
  endpoint_.options.connect_timeout = std::chrono::milliseconds(3'000);
  endpoint_.options.request_timeout = request_timeout;
  endpoint_.options.connect_timeout = std::min(endpoint_.options.connect_timeout, request_timeout);
  http_ = std::make_unique<http::Client>(endpoint_.options);
  token_read_ = std::chrono::steady_clock::now();
}

void Client::refresh_token() {
  if (endpoint_.token_file.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (now - token_read_ < std::chrono::seconds(60)) return;
  token_read_ = now;
  auto t = read_text(endpoint_.token_file);
  if (!t) {
    spdlog::warn("kubernetes: {}; keeping the token read before", t.error().message);
    return;
  }
  std::string token = trim(*t);
  if (token == endpoint_.options.bearer_token) return;
  endpoint_.options.bearer_token = token;
  http_ = std::make_unique<http::Client>(endpoint_.options);
}

Result<http::ClientResponse> Client::call(const std::string& method, const std::string& path, const std::string& body,
                                          const std::string& content_type, bool retry) {
  refresh_token();
  std::vector<std::pair<std::string, std::string>> headers{{"Accept", "application/json"}};
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return http_->request(method, path, body, headers, retry);
}

Result<int> Client::stream(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                           std::chrono::milliseconds idle_timeout) {
  refresh_token();
  return http_->stream(path, on_data, idle_timeout, {{"Accept", "application/json"}});
}

// ---------------------------------------------------------------- Watch

Watch::Watch(Endpoint endpoint, std::string collection, std::string label_selector, Handlers handlers)
    : endpoint_(std::move(endpoint)),
      collection_(std::move(collection)),
      label_selector_(std::move(label_selector)),
      handlers_(std::move(handlers)) {}

Watch::~Watch() { stop(); }

void Watch::start() { thread_ = std::thread([this] { loop(); }); }

void Watch::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Watch::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return synced_ || stop_; });
  return synced_;
}

std::string Watch::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void Watch::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_; });
}

std::string Watch::selector_query() const {
  return (label_selector_.empty() ? std::string() : "&labelSelector=" + url_encode(label_selector_)) +
         (field_selector_.empty() ? std::string() : "&fieldSelector=" + url_encode(field_selector_));
}

Result<std::string> Watch::list(Client& c) {
  std::vector<json> items;
  std::string cont, rv;
  // Pages of 500, as client-go's reflector does; one resourceVersion for all pages.
  do {
    std::string path = collection_ + "?limit=500" + selector_query() + (cont.empty() ? "" : "&continue=" + url_encode(cont));
    auto r = c.call("GET", path);
    if (!r) return r.error();
    if (r->status == 410) return Error{"gone", "list continue token expired"};
    if (r->status != 200)
      return Error{"http_" + std::to_string(r->status),
                   "GET " + collection_ + ": " + std::to_string(r->status) + " " + status_message(*r)};
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("items") || !j["items"].is_array())
      return Error{"io_error", "GET " + collection_ + ": not a list"};
    for (auto& it : j["items"]) items.push_back(std::move(it));
    const json& meta = j.contains("metadata") && j["metadata"].is_object() ? j["metadata"] : json::object();
    rv = str_at(meta, {"resourceVersion"});
    cont = str_at(meta, {"continue"});
  } while (!cont.empty());
  if (rv.empty()) return Error{"io_error", "GET " + collection_ + ": no resourceVersion in the list"};
  handlers_.replace(items);
  lists_++;
  return rv;
}

void Watch::loop() {
  Client client(endpoint_);
  http::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(3'000));
  std::string rv;
  bool need_list = true;
  LineSplitter lines;
  auto set_error = [&](const std::string& e) {
    std::lock_guard lock(mu_);
    if (last_error_ != e) spdlog::warn("kubernetes watch {}: {}", collection_, e);
    last_error_ = e;
  };
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (need_list) {
      auto r = list(client);
      if (!r) {
        set_error(r.error().message);
        pause(backoff.next());
        continue;
      }
      rv = *r;
      need_list = false;
      {
        std::lock_guard lock(mu_);
        synced_ = true;
        if (!last_error_.empty()) spdlog::info("kubernetes watch {}: listed again after: {}", collection_, last_error_);
        last_error_.clear();
      }
      cv_.notify_all();
    }
    // The apiserver ends a watch after timeoutSeconds; a quiet one is also
    // reopened after the idle timeout (that is when a stop() is noticed).
    std::string path = collection_ + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=" +
                       url_encode(rv) + selector_query();
    bool gone = false;
    std::string event_error;
    lines.reset();
    auto status = client.stream(
        path,
        [&](std::string_view data) {
          return lines.feed(data, [&](std::string_view line) {
            auto ev = json::parse(line, nullptr, false);
            if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() || !ev.contains("object")) {
              // Not an event: a Status body of a failed watch request.
              if (int_at(ev, {"code"}) == 410) gone = true;
              else event_error = "unexpected watch line: " + std::string(line.substr(0, 120));
              return false;
            }
            std::string type = ev["type"].get<std::string>();
            const json& obj = ev["object"];
            if (type == "ERROR") {
              // 410 Gone: our resourceVersion is older than the apiserver keeps.
              if (int_at(obj, {"code"}) == 410) gone = true;
              else if (std::string m = str_at(obj, {"message"}); !m.empty()) event_error = "watch error: " + m;
              else event_error = "watch error: " + obj.dump().substr(0, 200);
              return false;
            }
            if (std::string v = str_at(obj, {"metadata", "resourceVersion"}); !v.empty()) rv = v;
            if (type != "BOOKMARK") handlers_.event(type, obj);
            std::lock_guard lock(mu_);
            return !stop_;
          });
        },
        std::chrono::milliseconds(2'000));
    if (!status) {
      // Dropped (apiserver gone, connection reset): resume from rv after a backoff.
      set_error(status.error().message);
      pause(backoff.next());
      resumes_++;
      continue;
    }
    if (*status == 410 || gone) {
      gone_++;
      need_list = true;
      spdlog::info("kubernetes watch {}: resourceVersion {} is gone (410): listing again", collection_, rv);
      continue;
    }
    if (*status != 200) {
      set_error("watch " + collection_ + ": HTTP " + std::to_string(*status));
      pause(backoff.next());
      continue;
    }
    if (!event_error.empty()) {
      set_error(event_error);
      need_list = true;
      pause(backoff.next());
      continue;
    }
    backoff.reset();
    resumes_++;
  }
}

}  // namespace c4i::orchestrator::k8s
