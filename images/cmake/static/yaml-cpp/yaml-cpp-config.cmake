# yaml-cpp's static archive for static binaries (Debian's package config names the .so).
if(NOT TARGET yaml-cpp)
  find_library(C4I_YAML_CPP_STATIC NAMES libyaml-cpp.a PATHS ${C4I_YAML_CPP_LIBDIR} NO_DEFAULT_PATH REQUIRED)
  add_library(yaml-cpp STATIC IMPORTED)
  set_target_properties(yaml-cpp PROPERTIES IMPORTED_LOCATION ${C4I_YAML_CPP_STATIC})
endif()
set(yaml-cpp_FOUND TRUE)
