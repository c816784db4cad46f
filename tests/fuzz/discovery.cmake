# Gateway discovery: the HCI LE advertising event decoder (with the sim
# wire framer), the advertising-data decoder, and the btsnoop reader driving
# the whole replay pipeline.
c4i_fuzz_target(fuzz_discovery_hci_event
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/discovery_hci_event.cpp
  LIBS c4i_discovery_core)
c4i_fuzz_target(fuzz_discovery_ad
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/discovery_ad.cpp
  LIBS c4i_discovery_core)
c4i_fuzz_target(fuzz_discovery_btsnoop
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/discovery_btsnoop.cpp
  LIBS c4i_discovery_core)
