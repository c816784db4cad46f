# Orchestrator (issue 5): the gateway event batch parser (outside bytes from
# every gateway) and the paging token decoder.
c4i_fuzz_target(fuzz_orchestrator_events
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/orchestrator_events.cpp
  LIBS c4i_orchestrator_core)
