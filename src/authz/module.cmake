# authz: relationship-based authorization (OpenFGA semantics).

# The platform model is compiled in from its .fga source.
set(AUTHZ_FGA_C ${CMAKE_BINARY_DIR}/generated/authz_platform_fga.c)
add_custom_command(OUTPUT ${AUTHZ_FGA_C}
  COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/src/authz/platform.fga
          -DOUT=${AUTHZ_FGA_C} -DNAME=authz_platform_fga -DHEADER=authz/authz_int.h
          -P ${CMAKE_SOURCE_DIR}/src/authz/embed.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/src/authz/platform.fga ${CMAKE_SOURCE_DIR}/src/authz/embed.cmake
  COMMENT "Embedding the platform authorization model")

bw_module(authz
  SOURCES src/authz/authz_cel.c src/authz/authz_model.c src/authz/authz_dsl.c
          src/authz/authz_json.c src/authz/authz_index.c src/authz/authz_eval.c
          src/authz/authz_list.c src/authz/authz_engine.c src/authz/authz_api.c
          src/authz/authz_platform.c src/authz/authz_cli.c ${AUTHZ_FGA_C}
  DEPS core json conf store api event audit PkgConfig::CURL)

bw_unit_test(test_authz_cel authz src/authz/tests/test_authz_cel.c)
bw_unit_test(test_authz_model authz src/authz/tests/test_authz_model.c)
bw_unit_test(test_authz_platform authz src/authz/tests/test_authz_platform.c)
bw_unit_test(test_authz_engine authz src/authz/tests/test_authz_engine.c)
bw_unit_test(test_authz_cli authz src/authz/tests/test_authz_cli.c)
bw_unit_test(test_authz_api authz src/authz/tests/test_authz_api.c)

# Semantic test vectors (tests/authz/*.yaml), run in process; the same
# binary runs them against a daemon with --url.
add_executable(authz_vectors tests/authz/authz_vectors.c tests/authz/vec_lib.c
               tests/authz/vec_http.c)
target_link_libraries(authz_vectors PRIVATE bw_authz bw_conf PkgConfig::CURL)
add_test(NAME authz_vectors COMMAND authz_vectors ${CMAKE_SOURCE_DIR}/tests/authz)
set_tests_properties(authz_vectors PROPERTIES LABELS unit)

bw_fuzz_target(fuzz_authz_dsl authz src/authz/fuzz/fuzz_authz_dsl.c
  ${CMAKE_SOURCE_DIR}/src/authz/fuzz/corpus_authz_dsl)
bw_fuzz_target(fuzz_authz_cel authz src/authz/fuzz/fuzz_authz_cel.c
  ${CMAKE_SOURCE_DIR}/src/authz/fuzz/corpus_authz_cel)
bw_fuzz_target(fuzz_authz_subject authz src/authz/fuzz/fuzz_authz_subject.c
  ${CMAKE_SOURCE_DIR}/src/authz/fuzz/corpus_authz_subject)

# The benchmark is not a test: see docs/internals/AUTHZ.md.
add_executable(authz_bench src/authz/bench/authz_bench.c)
target_link_libraries(authz_bench PRIVATE bw_authz)
