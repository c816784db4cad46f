# Placement engine: full re-plan of 10,000 nodes / 100,000 devices / 100,000
# functions, one device event in that world, and the memory the world takes.
c4i_bench(bench_placement
  SOURCES ${PROJECT_SOURCE_DIR}/bench/placement.cpp
  LIBS c4i_placement)
