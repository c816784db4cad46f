# BLE reader (issue 7): the ATT PDU parsers and client/server state machines,
# the characteristic decoders, and the btsnoop/ACL/L2CAP replay path.
c4i_fuzz_target(fuzz_att_pdu
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/reader_att_pdu.cpp
  LIBS c4i_reader_core c4i_gatt_peripheral_core)
c4i_fuzz_target(fuzz_reader_decoders
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/reader_decoders.cpp
  LIBS c4i_reader_core)
c4i_fuzz_target(fuzz_reader_replay
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/reader_replay.cpp
  LIBS c4i_reader_core)
