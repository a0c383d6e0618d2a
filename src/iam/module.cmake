# iam: the identity core (docs/internals/IAM.md).
pkg_check_modules(ARGON2 REQUIRED IMPORTED_TARGET libargon2)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
bw_module(iam
  SOURCES src/iam/iam_store.c src/iam/iam_user.c src/iam/iam_password.c
          src/iam/iam_lockout.c src/iam/iam_login.c src/iam/iam_session.c
          src/iam/iam_totp.c src/iam/iam_seal.c src/iam/iam_api.c
          src/iam/iam_oidc.c src/iam/iam_oidc_http.c src/iam/iam_form.c
          src/iam/iam_cbor.c src/iam/iam_webauthn.c src/iam/iam_webauthn_store.c
          src/iam/iam_otp.c src/iam/iam_pages.c src/iam/iam_pages_html.c
          src/iam/iam_pages_state.c src/iam/iam_pages_conf.c
          src/iam/iam_fed.c src/iam/iam_fed_conf.c src/iam/iam_cli.c
          src/iam/iam_groups.c src/iam/iam_stepup.c
  DEPS core json conf store crypto loop event api audit net http
       PkgConfig::ARGON2 PkgConfig::QRENCODE Threads::Threads)
bw_unit_test(test_iam iam src/iam/tests/test_iam.c)
set_tests_properties(test_iam PROPERTIES TIMEOUT 300)
bw_unit_test(test_iam_api iam src/iam/tests/test_iam_api.c)
bw_unit_test(test_iam_oidc iam src/iam/tests/test_iam_oidc.c)
bw_unit_test(test_iam_oidc_http iam src/iam/tests/test_iam_oidc_http.c)
bw_unit_test(test_iam_fed iam src/iam/tests/test_iam_fed.c)
bw_unit_test(test_iam_webauthn iam src/iam/tests/test_iam_webauthn.c)
bw_unit_test(test_iam_pages iam src/iam/tests/test_iam_pages.c)
bw_unit_test(test_iam_stepup iam src/iam/tests/test_iam_stepup.c)
# Benchmark (bench/iam/run.sh), not a test.
if(NOT BW_FUZZ)
  add_executable(iam_bench ${CMAKE_SOURCE_DIR}/bench/iam/iam_bench.c)
  target_link_libraries(iam_bench PRIVATE bw_iam)
  add_executable(iam_loadlat ${CMAKE_SOURCE_DIR}/bench/iam/iam_loadlat.c)
  target_link_libraries(iam_loadlat PRIVATE PkgConfig::CURL Threads::Threads)
endif()
bw_fuzz_target(fuzz_iam_parse iam src/iam/fuzz/fuzz_iam_parse.c
  ${CMAKE_SOURCE_DIR}/src/iam/fuzz/corpus_iam_parse)
bw_fuzz_target(fuzz_iam_cbor iam src/iam/fuzz/fuzz_iam_cbor.c
  ${CMAKE_SOURCE_DIR}/src/iam/fuzz/corpus_iam_cbor)
bw_fuzz_target(fuzz_iam_fed iam src/iam/fuzz/fuzz_iam_fed.c
  ${CMAKE_SOURCE_DIR}/src/iam/fuzz/corpus_iam_fed)
