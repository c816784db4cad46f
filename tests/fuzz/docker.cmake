# Docker backend (issue 15): the Engine API parsers (bytes from every engine).
c4i_fuzz_target(fuzz_docker_api
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/docker_api.cpp
  LIBS c4i_orchestrator_core)
