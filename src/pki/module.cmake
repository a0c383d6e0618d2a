# pki: the certificate authority (docs/internals/PKI.md).
bw_module(pki
  SOURCES src/pki/pki.c src/pki/pki_key.c src/pki/pki_sign.c src/pki/pki_name.c
          src/pki/pki_csr.c src/pki/pki_policy.c src/pki/pki_store.c
          src/pki/pki_cert.c src/pki/pki_ca.c src/pki/pki_issue.c
          src/pki/pki_crl.c src/pki/pki_ocsp.c src/pki/pki_http.c
          src/pki/pki_api.c
          src/pki/pki_acme.c src/pki/pki_acme_jws.c src/pki/pki_acme_nonce.c
          src/pki/pki_acme_store.c src/pki/pki_acme_proto.c
          src/pki/pki_acme_validate.c src/pki/pki_acme_api.c
          src/pki/pki_conf.c src/pki/pki_lcert.c src/pki/pki_lcert_acme.c
          src/pki/pki_lcert_http.c src/pki/pki_lcert_api.c src/pki/pki_cli.c
  DEPS core json store crypto net api audit event loop conf PkgConfig::OPENSSL
       PkgConfig::CURL Threads::Threads resolv)
bw_unit_test(test_pki_csr pki src/pki/tests/test_pki_csr.c)
bw_unit_test(test_pki_ca pki src/pki/tests/test_pki_ca.c)
bw_unit_test(test_pki_http pki src/pki/tests/test_pki_http.c)
bw_fuzz_target(fuzz_pki_csr pki src/pki/fuzz/fuzz_pki_csr.c
  ${CMAKE_SOURCE_DIR}/src/pki/fuzz/corpus_pki_csr)
bw_fuzz_target(fuzz_pki_ocsp pki src/pki/fuzz/fuzz_pki_ocsp.c
  ${CMAKE_SOURCE_DIR}/src/pki/fuzz/corpus_pki_ocsp)
bw_unit_test(test_pki_api pki src/pki/tests/test_pki_api.c)
# Benchmark (bench/pki/run.sh), not a test.
if(NOT BW_FUZZ)
  add_executable(pki_bench ${CMAKE_SOURCE_DIR}/bench/pki/pki_bench.c)
  target_link_libraries(pki_bench PRIVATE bw_pki)
endif()
bw_unit_test(test_pki_acme pki src/pki/tests/test_pki_acme.c)
bw_fuzz_target(fuzz_pki_acme_jws pki src/pki/fuzz/fuzz_pki_acme_jws.c
  ${CMAKE_SOURCE_DIR}/src/pki/fuzz/corpus_pki_acme_jws)
# The ACME server alone on loopback, for the real-client test
# (tests/pki/acme_certbot.sh: lego and certbot; skipped when absent).
if(NOT BW_FUZZ)
  add_executable(acme_testd ${CMAKE_SOURCE_DIR}/tests/pki/acme_testd.c)
  target_link_libraries(acme_testd PRIVATE bw_pki)
  add_test(NAME pki_acme_real_clients
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pki/acme_certbot.sh $<TARGET_FILE:acme_testd>)
  set_tests_properties(pki_acme_real_clients PROPERTIES LABELS integration
    TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
bw_unit_test(test_pki_lcert pki src/pki/tests/test_pki_lcert.c)
bw_fuzz_target(fuzz_pki_conf pki src/pki/fuzz/fuzz_pki_conf.c
  ${CMAKE_SOURCE_DIR}/src/pki/fuzz/corpus_pki_conf)
