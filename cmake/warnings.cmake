# Warnings are errors on our own code only; third-party headers come in as SYSTEM includes.
function(c4i_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  # GCC 12 reports impossible overlaps inside libstdc++'s own std::string code at
  # -O3 (GCC bug 105329, -Wrestrict): a false positive we cannot fix in our code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-error=restrict)
  endif()
endfunction()
