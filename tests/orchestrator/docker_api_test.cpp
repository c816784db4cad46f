// Unit tests of the docker backend's pure parts (orchestrator/docker_api.hpp):
// endpoints and the topology file, engine bodies, the JSON-lines streams
// (pull errors inside a 200 stream, events cut anywhere), the multiplexed logs.
#include "orchestrator/docker_api.hpp"

#include <gtest/gtest.h>

namespace c4i::orchestrator::docker {
namespace {

using nlohmann::json;

TEST(DockerApi, EndpointsAreUnixSocketsOrTcpWithTls) {
  auto u = parse_endpoint("unix:///run/docker.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->is_unix());
  EXPECT_EQ(u->socket_path, "/run/docker.sock");
  auto t = parse_endpoint("tcp://127.0.0.1:2376");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 2376);
  auto v6 = parse_endpoint("tcp://[::1]:2376");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"unix://relative.sock", "tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://h:99999", "http://h:1", ""})
    EXPECT_FALSE(parse_endpoint(bad).ok()) << bad;
}

TEST(DockerApi, TopologyNeedsTlsForTcpEnginesAndNamesTheField) {
  auto ok = config::load_string(
      "nodes:\n  - {name: gw-1, tier: gateway, network: none, engine: {endpoint: \"unix:///run/d.sock\"}}\n"
      "  - {name: edge-1, tier: edge, engine: {endpoint: \"tcp://10.0.0.5:2376\", ca: a, cert: b, key: c}}\n",
      "t.yaml");
  ASSERT_TRUE(ok.ok());
  auto t = parse_docker_topology(*ok);
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->nodes.size(), 2u);
  EXPECT_EQ(t->nodes[0].network, "none");
  EXPECT_EQ(t->nodes[1].engine.port, 2376);
  EXPECT_EQ(t->usage_interval_ms, 10'000);
  auto bad = config::load_string("nodes:\n  - {name: e, tier: edge, engine: {endpoint: \"tcp://10.0.0.5:2376\"}}\n", "t.yaml");
  auto r = parse_docker_topology(*bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nodes[0].engine"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("TLS"), std::string::npos) << r.error().message;
}

TEST(DockerApi, TopologyReaderIsOnByDefaultAndANodeMayReplaceIt) {
  auto doc = config::load_string(
      "reader: {connect: \"unix:/devices/{addr}.sock\", binds: [\"/srv/dev:/devices\"], args: [--ca, /pki/ca.pem]}\n"
      "nodes:\n  - {name: gw-1, tier: gateway, engine: {endpoint: \"unix:///run/d.sock\"}}\n"
      "  - {name: gw-2, tier: gateway, engine: {endpoint: \"unix:///run/e.sock\"}, reader: {enabled: false}}\n",
      "t.yaml");
  ASSERT_TRUE(doc.ok());
  auto t = parse_docker_topology(*doc);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto& r1 = t->nodes[0].reader;
  EXPECT_TRUE(r1.enabled);
  EXPECT_EQ(r1.network, "host");
  EXPECT_EQ(r1.binds, std::vector<std::string>{"/srv/dev:/devices"});
  EXPECT_EQ(expand_reader_template(r1.connect, {{"addr", "c4:7c:8d:6a:3e:01"}}), "unix:/devices/c4:7c:8d:6a:3e:01.sock");
  EXPECT_FALSE(t->nodes[1].reader.enabled);
  // Without a `reader`, each function still gets one, connecting to the device's address.
  auto plain = config::load_string("nodes:\n  - {name: g, tier: gateway, engine: {endpoint: \"unix:///d.sock\"}}\n", "t.yaml");
  auto p = parse_docker_topology(*plain);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->nodes[0].reader.enabled);
  EXPECT_EQ(p->nodes[0].reader.connect, "{addr}");
  auto bad = config::load_string(
      "reader: {binds: [\"devices:/devices\"]}\nnodes:\n  - {name: g, tier: gateway, engine: {endpoint: \"unix:///d.sock\"}}\n",
      "t.yaml");
  auto r = parse_docker_topology(*bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("reader.binds[0]"), std::string::npos) << r.error().message;
}

TEST(DockerApi, InfoGivesArchCpusAndMemory) {
  auto i = parse_info(R"({"Name":"gw","Architecture":"aarch64","NCPU":4,"MemTotal":4096000000,"ServerVersion":"20.10"})");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->arch, "arm64");
  EXPECT_EQ(i->ncpu, 4);
  EXPECT_EQ(i->mem_total_bytes, 4096000000);
  EXPECT_EQ(normalize_arch("x86_64"), "amd64");
  EXPECT_FALSE(parse_info(R"({"Architecture":"x86_64","NCPU":0,"MemTotal":1})").ok());
  EXPECT_FALSE(parse_info("[]").ok());
}

TEST(DockerApi, ImageReferencesSplitAtTheTagNotThePort) {
  auto r = parse_image_ref("127.0.0.1:5000/cloud4iot/fn-omh:0.1.0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repo, "127.0.0.1:5000/cloud4iot/fn-omh");
  EXPECT_EQ(r->tag, "0.1.0");
  auto latest = parse_image_ref("127.0.0.1:5000/fn");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->tag, "latest");
  EXPECT_EQ(latest->str(), "127.0.0.1:5000/fn:latest");
  auto digest = parse_image_ref("r/fn@sha256:abc");
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(digest->str(), "r/fn@sha256:abc");
  EXPECT_FALSE(parse_image_ref("a b").ok());
}

TEST(DockerApi, JsonLinesGivesTheSameValuesHoweverTheStreamIsCut) {
  const std::string stream =
      "{\"status\":\"Pulling\"}\r\n{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1}}\r\n"
      "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\r\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    JsonLines l;
    std::vector<json> out;
    ASSERT_TRUE(l.feed(stream.substr(0, cut), out).ok());
    ASSERT_TRUE(l.feed(stream.substr(cut), out).ok());
    ASSERT_EQ(out.size(), 3u) << cut;
    EXPECT_TRUE(check_pull_message(out[1]).ok());
    auto err = check_pull_message(out[2]);
    ASSERT_FALSE(err.ok());
    EXPECT_EQ(err.error().code, "pull_failed");
    EXPECT_EQ(err.error().message, "manifest unknown");
  }
  JsonLines small(16);
  std::vector<json> out;
  EXPECT_FALSE(small.feed(std::string(17, 'x'), out).ok());
}

TEST(DockerApi, EventsContainersAndStats) {
  auto e = parse_event(json::parse(
      R"({"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"3","cloud4iot.io/function":"f"}},"timeNano":5})"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->action, "die");
  EXPECT_EQ(e->attributes["exitCode"], "3");
  EXPECT_FALSE(parse_event(json::parse(R"({"Type":"network","Action":"connect","Actor":{"ID":"n"}})")).has_value());
  auto l = parse_container_list(R"([{"Id":"a","Names":["/c4i-f"],"State":"running","Labels":{"k":"v"}}])");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)[0].name, "/c4i-f");
  EXPECT_FALSE(parse_container_list(R"([{"Names":[]}])").ok());
  auto i = parse_inspect(R"({"Id":"a","State":{"Status":"exited","Running":false,"ExitCode":137,"StartedAt":"2026-12-01T18:43:04.806093766Z"}})");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->exit_code, 137);
  EXPECT_EQ(parse_docker_time_ms(i->started_at), 1796150584806);
  EXPECT_FALSE(parse_docker_time_ms("0001-01-01T00:00:00Z").has_value());
  StatsSample a{100, 1000, 2, 0}, b{300, 2000, 2, 0};
  EXPECT_DOUBLE_EQ(cpu_share(a, b), 0.2);
  auto s = parse_stats(R"({"cpu_stats":{"cpu_usage":{"total_usage":5},"system_cpu_usage":9},"memory_stats":{"usage":100,"stats":{"inactive_file":40}}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->mem_usage_bytes, 60u);
}

TEST(DockerApi, LogsAreDemultiplexedAndAForeignStreamIsRejected) {
  std::string b = std::string("\x01\0\0\0\0\0\0\x05", 8) + "hello" + std::string("\x02\0\0\0\0\0\0\x03", 8) + "err" +
                  std::string("\x01\0\0\0\0\0\0\x09", 8) + "cut";
  auto l = demux_logs(b);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->out, "hellocut");
  EXPECT_EQ(l->err, "err");
  EXPECT_FALSE(demux_logs("plain text output\n").ok());
}

}  // namespace
}  // namespace c4i::orchestrator::docker
