# authz: relationship-based authorization (OpenFGA semantics).
bw_module(authz
  SOURCES src/authz/authz_cel.c src/authz/authz_model.c src/authz/authz_dsl.c
          src/authz/authz_json.c src/authz/authz_index.c src/authz/authz_eval.c
          src/authz/authz_list.c src/authz/authz_engine.c src/authz/authz_api.c
  DEPS core json conf store api event audit)

bw_unit_test(test_authz_cel authz src/authz/tests/test_authz_cel.c)
bw_unit_test(test_authz_model authz src/authz/tests/test_authz_model.c)

# Semantic test vectors (tests/authz/*.yaml), run in process; the same
# binary runs them against a daemon with --url.
add_executable(authz_vectors tests/authz/authz_vectors.c tests/authz/vec_lib.c
               tests/authz/vec_http.c)
target_link_libraries(authz_vectors PRIVATE bw_authz bw_conf)
add_test(NAME authz_vectors COMMAND authz_vectors ${CMAKE_SOURCE_DIR}/tests/authz)
set_tests_properties(authz_vectors PROPERTIES LABELS unit)

bw_fuzz_target(fuzz_authz_dsl authz src/authz/fuzz/fuzz_authz_dsl.c
  ${CMAKE_SOURCE_DIR}/src/authz/fuzz/corpus_authz_dsl)
bw_fuzz_target(fuzz_authz_cel authz src/authz/fuzz/fuzz_authz_cel.c
  ${CMAKE_SOURCE_DIR}/src/authz/fuzz/corpus_authz_cel)
