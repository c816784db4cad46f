# The IoT functions' sample-line parsers (issue 10).
c4i_fuzz_target(fuzz_functions SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/functions_fuzz.cpp LIBS c4i_functions_core)
