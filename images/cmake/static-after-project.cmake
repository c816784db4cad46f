# Included at the end of project() by the static toolchains: prefer .a files.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
set(OPENSSL_USE_STATIC_LIBS TRUE)
set(BUILD_SHARED_LIBS OFF)
