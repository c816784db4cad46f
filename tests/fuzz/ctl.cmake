# c4ictl (issue 13): the server-sent events parser reading GET /v1/watch, the
# bytes the CLI takes from the network.
if(TARGET c4i_ctl_core)
  c4i_fuzz_target(fuzz_ctl_sse SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/ctl_sse.cpp LIBS c4i_ctl_core)
endif()
