c4i_fuzz_target(fuzz_router SOURCES ${CMAKE_CURRENT_LIST_DIR}/router_fuzz.cpp LIBS c4i_pure)
c4i_fuzz_target(fuzz_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_fuzz.cpp LIBS c4i_pure)
c4i_fuzz_target(fuzz_btsnoop SOURCES ${CMAKE_CURRENT_LIST_DIR}/btsnoop_fuzz.cpp LIBS c4i_pure)
