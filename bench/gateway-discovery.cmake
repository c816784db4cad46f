# Gateway discovery: decode throughput of the replay pipeline (Google
# Benchmark, in process). bench/gateway-discovery.sh compares the binary
# with tshark on the same large capture and measures the daemon's memory.
c4i_bench(bench_gateway_discovery
  SOURCES ${PROJECT_SOURCE_DIR}/bench/gateway-discovery.cpp
  LIBS c4i_discovery_core)
target_compile_definitions(bench_gateway_discovery PRIVATE
  C4I_TESTDATA_DEFAULT="${PROJECT_SOURCE_DIR}/../shared/testdata")
