# Static cross toolchain for arm64: Debian's g++-aarch64-linux-gnu and the
# arm64 -dev packages installed beside the amd64 ones (multiarch, see
# images/setup-cross.sh); yaml-cpp:arm64 is unpacked into a sysroot because
# its -dev package cannot be co-installed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
if(DEFINED ENV{C4I_ARM64_SYSROOT})
  set(C4I_YAML_CPP_LIBDIR $ENV{C4I_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu)
else()
  set(C4I_YAML_CPP_LIBDIR /opt/c4i-cross/arm64/usr/lib/aarch64-linux-gnu)
endif()
include(${CMAKE_CURRENT_LIST_DIR}/static-common.cmake)
