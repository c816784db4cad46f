# Gateway enrolment (issue 16): the body of POST /v1/enrol and /v1/enrol/renew
# and the CSR in it, from any host that reaches the orchestrator. The only
# fuzz target on OpenSSL: the CSR parser is OpenSSL's, our checks around it are
# what is fuzzed (the fuzz build has no c4i_common, so the two files come here).
find_package(OpenSSL 3 QUIET)
if(OpenSSL_FOUND)
  c4i_fuzz_target(fuzz_enrol_request
    SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/enrol_request_fuzz.cpp
            ${PROJECT_SOURCE_DIR}/orchestrator/enrol_request.cpp
            ${PROJECT_SOURCE_DIR}/common/x509.cpp
    LIBS c4i_pure OpenSSL::Crypto)
endif()
