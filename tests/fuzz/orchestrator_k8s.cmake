# Orchestrator, kubernetes backend (issue 13): what the apiserver and
# metrics-server send back (Node, Pod, NodeMetricsList objects, watch-stream
# lines, resource quantities, timestamps, base64 data).
if(TARGET c4i_orchestrator_core)
  c4i_fuzz_target(fuzz_k8s_objects SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/k8s_objects_fuzz.cpp LIBS c4i_orchestrator_core)
endif()
