# Turns the files of orchestrator/dashboard/ into a C++ source holding their
# bytes, each with an ETag from its sha256 (run with cmake -P).
# Inputs: DIR (the dashboard folder), OUT (the .cpp to write).
file(GLOB files RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(arrays "")
set(table "")
set(i 0)
foreach(name IN LISTS files)
  if(IS_DIRECTORY "${DIR}/${name}")
    message(FATAL_ERROR "embed_dashboard: ${DIR}/${name}: subfolders are not served; keep the dashboard flat")
  endif()
  file(SIZE "${DIR}/${name}" size)
  if(size EQUAL 0)
    message(FATAL_ERROR "embed_dashboard: ${DIR}/${name} is empty")
  endif()
  file(READ "${DIR}/${name}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],))" "\\1\n" bytes "${bytes}")
  file(SHA256 "${DIR}/${name}" sha)
  string(SUBSTRING "${sha}" 0 24 tag)
  string(APPEND arrays "const unsigned char kFile${i}[] = {\n${bytes}};\n")
  string(APPEND table "    {\"${name}\", kFile${i}, sizeof kFile${i}, \"\\\"${tag}\\\"\"},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from orchestrator/dashboard/ by embed_dashboard.cmake; do not edit.\n"
  "#include \"orchestrator/dashboard.hpp\"\n"
  "namespace c4i::orchestrator {\nnamespace {\n${arrays}}  // namespace\n"
  "const DashboardAsset kDashboardAssets[] = {\n${table}};\n"
  "const std::size_t kDashboardAssetCount = ${i};\n}  // namespace c4i::orchestrator\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
