# The IoT functions' hot paths (issue 10): sample parsing, heart-rate
# consolidation, and the vibration features per window in both modes.
c4i_bench(bench_images SOURCES ${PROJECT_SOURCE_DIR}/bench/images.cpp LIBS c4i_functions_core)
