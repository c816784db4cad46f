# BLE reader (issue 7): replay throughput and decoders in process; bench/ble-reader.sh
# compares the c4i-reader binary with tshark on the same generated capture.
c4i_bench(bench_ble_reader
  SOURCES ${PROJECT_SOURCE_DIR}/bench/ble-reader.cpp
  LIBS c4i_reader_core)
