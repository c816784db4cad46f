# Static toolchain for amd64 (the build machine): see static-common.cmake.
set(CMAKE_CXX_COMPILER g++)
set(C4I_YAML_CPP_LIBDIR /usr/lib/x86_64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/static-common.cmake)
