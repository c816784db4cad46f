# Shared part of the static toolchains (static-amd64.cmake, static-arm64.cmake)
# used by images/build.sh: Release binaries linked with -static, stripped (-s),
# unused sections dropped, against Debian's .a files. Debian ships spdlog and
# fmt as shared libraries only, so the shims in static/ turn them header-only;
# yaml-cpp's CMake package names its .so, so its shim names the .a.
set(CMAKE_CXX_FLAGS_INIT "-ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_RELEASE "-Os -DNDEBUG" CACHE STRING "Release flags of the static builds: -Os for size")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -s -Wl,--gc-sections")
set(spdlog_DIR "${CMAKE_CURRENT_LIST_DIR}/static/spdlog" CACHE PATH "header-only spdlog shim" FORCE)
set(yaml-cpp_DIR "${CMAKE_CURRENT_LIST_DIR}/static/yaml-cpp" CACHE PATH "static yaml-cpp shim" FORCE)
# After project(): the platform files have set the library suffixes by then.
set(CMAKE_PROJECT_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/static-after-project.cmake")
