# Gateway discovery (issue 13): the text the daemon reads besides the radio
# (the simulator's usage override file, /proc/stat, /proc/meminfo) and the
# greeting line the simulator reads from each daemon.
if(TARGET c4i_discovery_core)
  c4i_fuzz_target(fuzz_discovery_text SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/discovery_text.cpp LIBS c4i_discovery_core)
endif()
