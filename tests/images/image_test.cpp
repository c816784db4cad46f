// The images built by images/build.sh (run before this test by the
// images_build fixture): each amd64 image run with `docker run` on a sample
// stream, what the images hold, the manifest lists in the local registry, and
// the binaries the images ship (ctx/<fn>-<arch>/rootfs, laid out by build.sh
// with or without a Docker engine) run as the function and as the reader,
// the arm64 ones under qemu-user-static. The Docker tests are skipped only
// when no Docker engine answers `docker info`.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "images/samples.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string out_dir() { return binary_dir() + "/images-out"; }
std::string tag() { return "0.1.0"; }
std::string registry() {
  const char* p = std::getenv("C4I_REGISTRY_PORT");
  return std::string("127.0.0.1:") + (p ? p : "5123");
}
std::string image(const std::string& fn, const std::string& arch) {
  return registry() + "/cloud4iot/fn-" + fn + ":" + tag() + "-" + arch;
}
bool docker_present() { return run({"docker", "info"}, 30s).code == 0; }
// The image's file system as build.sh laid it out, and the binary as linked (before UPX).
std::string rootfs(const std::string& fn, const std::string& arch) { return out_dir() + "/ctx/" + fn + "-" + arch + "/rootfs"; }
std::string shipped(const std::string& fn, const std::string& arch) { return rootfs(fn, arch) + "/usr/bin/c4i-fn-" + fn; }
std::string shipped_reader(const std::string& fn, const std::string& arch) { return rootfs(fn, arch) + "/usr/bin/c4i-reader"; }
std::string built(const std::string& fn, const std::string& arch) {
  return out_dir() + "/build-" + arch + "/images/c4i-image-" + fn;
}
bool reader_built(const std::string& arch) { return std::filesystem::is_symlink(shipped_reader("omh", arch)); }

#define SKIP_WITHOUT_DOCKER()                                                          \
  do {                                                                                 \
    if (!docker_present()) GTEST_SKIP() << "no Docker engine answers `docker info`: image tests skipped"; \
  } while (false)

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::string hr_stream(int seconds) {
  std::string s;
  for (int i = 0; i < seconds; ++i)
    s += json{{"heart_rate", {{"value", 60 + i % 10}, {"unit", "beats/min"}}},
              {"effective_time_frame", {{"date_time", functions::format_rfc3339(1795435200.0 + i)}}},
              {"rr_intervals_ms", {1000 - i % 3 * 20}}}
             .dump() +
         "\n";
  return s;
}

std::string sine_stream(double fs, double seconds, double hz, double amplitude) {
  std::string s;
  for (int i = 0; i < static_cast<int>(fs * seconds); ++i) {
    const double t = i / fs;
    char buf[128];
    std::snprintf(buf, sizeof buf, "{\"t\":%.6f,\"x\":%.9f,\"y\":0,\"z\":9.81}\n", t,
                  amplitude * std::sin(2 * std::numbers::pi * hz * t));
    s += buf;
  }
  return s;
}

void expect_sine_report(const std::string& out, const std::string& mode) {
  auto reports = lines_of(out);
  ASSERT_FALSE(reports.empty());
  auto j = json::parse(reports[0]);
  EXPECT_EQ(j["mode"], mode);
  EXPECT_NEAR(j["axes"]["x"]["rms"].get<double>(), 1.414, 1e-3);
  EXPECT_NEAR(j["axes"]["x"]["crest_factor"].get<double>(), 1.414, 1e-3);
  if (mode == "intensive") {
    EXPECT_NEAR(j["axes"]["x"]["dominant"][0]["hz"].get<double>(), 50.0, 1.0);
  }
}

TEST(Images, OmhImageConsolidatesAStdinStream) {
  SKIP_WITHOUT_DOCKER();
  auto r = run({"docker", "run", "--rm", "-i", "--network", "none", "-e", "C4I_NODE=gw-1", "-e", "C4I_FUNCTION=omh-hr1",
                "-e", "C4I_DEVICE=hr1", image("omh", "amd64"), "--window", "30"},
               120s, hr_stream(90));
  ASSERT_EQ(r.code, 0) << r.err;
  auto points = lines_of(r.out);
  ASSERT_EQ(points.size(), 3u) << r.out << r.err;
  auto p = json::parse(points[0]);
  EXPECT_EQ(p["header"]["schema_id"]["name"], "heart-rate");
  EXPECT_EQ(p["header"]["cloud4iot"]["node"], "gw-1");
  EXPECT_EQ(p["header"]["cloud4iot"]["device"], "hr1");
  EXPECT_EQ(p["body"]["consolidation"]["sample_count"], 30);
  EXPECT_DOUBLE_EQ(p["body"]["heart_rate"]["value"].get<double>(), 64.5);
  EXPECT_TRUE(p["body"]["consolidation"]["heart_rate_variability"].contains("sdnn"));
}

TEST(Images, EngineImageAnalysesAStdinStream) {
  SKIP_WITHOUT_DOCKER();
  auto r = run({"docker", "run", "--rm", "-i", "--network", "none", "-e", "C4I_TIER=gateway", image("engine", "amd64"),
                "--mode", "auto"},
               120s, sine_stream(1000, 2, 50, 2));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u);
  expect_sine_report(r.out, "intensive");
}

TEST(Images, ImagesHoldOnlyTheFunctionTheReaderAndCaCertificates) {
  SKIP_WITHOUT_DOCKER();
  for (const std::string fn : {"omh", "engine"}) {
    for (const std::string arch : {"amd64", "arm64"}) {
      auto created = run({"docker", "create", image(fn, arch)}, 60s);
      ASSERT_EQ(created.code, 0) << created.err;
      const std::string id = lines_of(created.out).at(0);
      TempDir tmp;
      auto exported = run({"sh", "-c", "docker export " + id + " | tar -t"}, 60s);
      run({"docker", "rm", id}, 60s);
      ASSERT_EQ(exported.code, 0) << exported.err;
      std::set<std::string> files;
      for (const auto& l : lines_of(exported.out))
        if (l.back() != '/') files.insert(l);
      // Docker adds these empty mount points to every container's filesystem.
      for (const char* docker_own : {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", "proc", "sys",
                                     "dev/console", "dev/pts", "dev/shm"})
        files.erase(docker_own);
      std::set<std::string> expected{"usr/bin/c4i-fn-" + fn, "etc/ssl/certs/ca-certificates.crt"};
      if (reader_built(arch)) expected.insert("usr/bin/c4i-reader");
      EXPECT_EQ(files, expected) << fn << " " << arch;
      auto arch_of = run({"docker", "image", "inspect", "-f", "{{.Architecture}} {{.Os}}", image(fn, arch)}, 30s);
      EXPECT_EQ(arch_of.out, arch + " linux\n");
      auto size = run({"docker", "image", "inspect", "-f", "{{.Size}}", image(fn, arch)}, 30s);
      std::cout << "image " << image(fn, arch) << ": " << size.out;
    }
  }
}

TEST(Images, ImagesRunTheReaderUnderItsName) {
  SKIP_WITHOUT_DOCKER();
  if (!reader_built("amd64")) GTEST_SKIP() << "c4i-reader did not build: the images hold the functions only";
  for (const std::string fn : {"omh", "engine"}) {
    auto help = run({"docker", "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/c4i-reader", image(fn, "amd64"), "--help"},
                    120s);
    EXPECT_EQ(help.code, 0) << help.err;
    EXPECT_NE(help.out.find("--connect"), std::string::npos) << help.out;
    auto bad = run({"docker", "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/c4i-reader", image(fn, "amd64"),
                    "--connect", "not-an-address"},
                   120s);
    EXPECT_EQ(bad.code, 2) << bad.err;
    EXPECT_NE(bad.err.find("c4i-reader: "), std::string::npos) << bad.err;
  }
}

// Starts Debian's docker-registry on the storage images/build.sh pushed to, unless one answers.
class Registry {
 public:
  Registry() {
    if (run({"curl", "-fsS", "http://" + registry() + "/v2/"}, 10s).code == 0) return;
    child_ = std::make_unique<Child>(std::vector<std::string>{"/usr/bin/docker-registry", "serve", out_dir() + "/registry/config.yml"});
    EXPECT_TRUE(wait_until([&] { return run({"curl", "-fsS", "http://" + registry() + "/v2/"}, 10s).code == 0; }, 20s))
        << child_->err();
  }
  ~Registry() {
    if (child_) {
      child_->signal(SIGTERM);
      child_->wait(10s);
    }
  }

 private:
  std::unique_ptr<Child> child_;
};

TEST(Images, ManifestListsJoinBothArchitecturesInTheLocalRegistry) {
  SKIP_WITHOUT_DOCKER();
  Registry reg;
  for (const std::string fn : {"omh", "engine"}) {
    auto r = run({"curl", "-fsS", "-H", "Accept: application/vnd.docker.distribution.manifest.list.v2+json",
                  "http://" + registry() + "/v2/cloud4iot/fn-" + fn + "/manifests/" + tag()},
                 30s);
    ASSERT_EQ(r.code, 0) << r.err;
    auto list = json::parse(r.out);
    EXPECT_EQ(list["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
    std::set<std::string> arches;
    for (const auto& m : list["manifests"]) {
      EXPECT_EQ(m["platform"]["os"], "linux");
      arches.insert(m["platform"]["architecture"].get<std::string>());
      // Each member manifest is in the registry too.
      auto member = run({"curl", "-fsS", "-o", "/dev/null", "-H",
                         "Accept: application/vnd.docker.distribution.manifest.v2+json",
                         "http://" + registry() + "/v2/cloud4iot/fn-" + fn + "/manifests/" + m["digest"].get<std::string>()},
                        30s);
      EXPECT_EQ(member.code, 0) << member.err;
    }
    EXPECT_EQ(arches, (std::set<std::string>{"amd64", "arm64"})) << r.out;
  }
}

// ELF e_machine (offset 18, little-endian) and whether a PT_INTERP (a dynamic loader) is asked for.
struct ElfFacts {
  int machine = -1;
  bool dynamic = true;
  bool has_symtab = true;
};
ElfFacts elf_facts(const std::string& path) {
  ElfFacts f;
  std::ifstream in(path, std::ios::binary);
  unsigned char h[20] = {};
  in.read(reinterpret_cast<char*>(h), sizeof h);
  if (in.gcount() == 20 && h[0] == 0x7f && h[1] == 'E') f.machine = h[18] | (h[19] << 8);
  f.dynamic = run({"readelf", "-lW", path}, 30s).out.find("INTERP") != std::string::npos;
  f.has_symtab = run({"readelf", "-SW", path}, 30s).out.find(".symtab") != std::string::npos;
  return f;
}

TEST(Images, BinariesAreStaticAndStrippedForBothArchitectures) {
  const std::pair<std::string, int> arches[] = {{"amd64", 62}, {"arm64", 183}};  // EM_X86_64, EM_AARCH64
  for (const auto& [arch, machine] : arches) {
    for (const std::string fn : {"omh", "engine"}) {
      const std::string path = built(fn, arch);
      auto f = elf_facts(path);
      EXPECT_EQ(f.machine, machine) << path;
      EXPECT_FALSE(f.dynamic) << path;
      EXPECT_FALSE(f.has_symtab) << path << " is not stripped";
    }
  }
}

// The binaries exactly as the images ship them (packed with UPX or not).
TEST(Images, Amd64ShippedBinariesRunAsTheFunctionAndAsTheReader) {
  auto r = run({"env", "C4I_TIER=edge", shipped("engine", "amd64")}, 120s, sine_stream(1000, 2, 50, 2));
  ASSERT_EQ(r.code, 0) << r.err;
  expect_sine_report(r.out, "intensive");
  auto omh = run({"env", "C4I_DEVICE=hr1", shipped("omh", "amd64"), "--window", "30"}, 120s, hr_stream(60));
  ASSERT_EQ(omh.code, 0) << omh.err;
  EXPECT_EQ(lines_of(omh.out).size(), 2u) << omh.err;
  if (!reader_built("amd64")) GTEST_SKIP() << "c4i-reader did not build: the images hold the functions only";
  for (const std::string fn : {"omh", "engine"}) {
    auto help = run({shipped_reader(fn, "amd64"), "--help"}, 60s);
    EXPECT_EQ(help.code, 0) << help.err;
    EXPECT_NE(help.out.find("--connect"), std::string::npos) << help.out;
  }
}

TEST(Images, Arm64EngineRunsUnderQemu) {
  const std::string bin = shipped("engine", "arm64");
  auto r = run({"qemu-aarch64-static", bin, "--mode", "intensive"}, 120s, sine_stream(1000, 2, 50, 2));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u);
  expect_sine_report(r.out, "intensive");
  auto relaxed = run({"env", "C4I_TIER=cloud", "qemu-aarch64-static", bin}, 120s, sine_stream(1000, 10, 5, 2));
  ASSERT_EQ(relaxed.code, 0) << relaxed.err;
  EXPECT_EQ(json::parse(lines_of(relaxed.out).at(0))["mode"], "relaxed");
}

TEST(Images, Arm64OmhRunsUnderQemu) {
  const std::string bin = shipped("omh", "arm64");
  auto r = run({"env", "C4I_DEVICE=hr1", "qemu-aarch64-static", bin, "--window", "30"}, 120s, hr_stream(60));
  ASSERT_EQ(r.code, 0) << r.err;
  auto points = lines_of(r.out);
  ASSERT_EQ(points.size(), 2u) << r.err;
  EXPECT_EQ(json::parse(points[0])["header"]["cloud4iot"]["device"], "hr1");
  auto bad = run({"qemu-aarch64-static", bin, "--bogus"}, 60s);
  EXPECT_EQ(bad.code, 2);
}

TEST(Images, Arm64ReaderRunsUnderQemu) {
  if (!reader_built("arm64")) GTEST_SKIP() << "c4i-reader did not build: the images hold the functions only";
  for (const std::string fn : {"omh", "engine"}) {
    // qemu passes the path it is given as argv[0]: the symlink's name chooses the reader.
    auto r = run({"qemu-aarch64-static", shipped_reader(fn, "arm64"), "--help"}, 60s);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("--connect"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace c4i::testing
