# spdlog as a header-only library (with fmt header-only) for static binaries:
# Debian's libspdlog-dev and libfmt-dev have no .a files.
if(NOT TARGET spdlog::spdlog)
  find_package(Threads REQUIRED)
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_HEADER_ONLY;SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
set(spdlog_FOUND TRUE)
set(spdlog_VERSION 1.10.0)
