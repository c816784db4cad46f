# Placement: the policy and world JSON decoding, then a plan over what decoded
# (checked: determinism, round trip, fixed point).
c4i_fuzz_target(fuzz_placement_json
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/placement_json.cpp
  LIBS c4i_placement)
