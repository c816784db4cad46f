# Orchestrator (issue 5): durable event ingestion over HTTPS keep-alive
# (batches of 100 device.seen from several connections) and the roam decision
# latency, against the real c4i-orchestrator binary. Needs the test harness
# (C4I_TESTS=ON) for the PKI and the test function.
if(TARGET c4i_orchestrator_harness)
  c4i_bench(bench_orchestrator
    SOURCES ${PROJECT_SOURCE_DIR}/bench/orchestrator.cpp
    LIBS c4i_orchestrator_harness c4i_common)
  add_dependencies(bench_orchestrator c4i-orchestrator c4i-test-function)
endif()

# The control loop's read of the world at the soak's scale (bench/state.cpp).
if(TARGET c4i_orchestrator)
  c4i_bench(bench_state SOURCES ${PROJECT_SOURCE_DIR}/bench/state.cpp LIBS c4i_orchestrator)
endif()
