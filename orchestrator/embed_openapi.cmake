# Turns openapi.json into a C++ source holding it as a string (run with cmake -P).
# Inputs: IN (the JSON file), OUT (the .cpp to write).
file(READ "${IN}" content)
set(delim "c4i_openapi_json")
file(WRITE "${OUT}.tmp" "// Generated from orchestrator/openapi.json; do not edit.\n#include \"orchestrator/api.hpp\"\nnamespace c4i::orchestrator {\nconst char* const kOpenApiJson = R\"${delim}(${content})${delim}\";\n}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
