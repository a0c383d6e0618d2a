# kms: the worker-side keystore client, the /api/v1/kms routes, the
# PKCS#11 socket server and the `bulwark kms` / `bulwark operator` CLI
# (docs/internals/KEYSTORE.md).
bw_module(kms
  SOURCES src/kms/kms_client.c src/kms/kms_ops.c src/kms/kms_api.c
          src/kms/kms_cli.c src/kms/kms_adapt.c src/kms/kms_p11.c
  DEPS core keystore loop api json audit pki iam authz conf p11
       PkgConfig::OPENSSL PkgConfig::CURL Threads::Threads)
target_include_directories(bw_kms PRIVATE /usr/include/p11-kit-1)
bw_unit_test(test_kms_client kms src/kms/tests/test_kms_client.c)
set_tests_properties(test_kms_client PROPERTIES TIMEOUT 120)
bw_unit_test(test_kms_api kms src/kms/tests/test_kms_api.c)
set_tests_properties(test_kms_api PROPERTIES TIMEOUT 120)
bw_unit_test(test_kms_adapt kms src/kms/tests/test_kms_adapt.c)
set_tests_properties(test_kms_adapt PROPERTIES TIMEOUT 300)
bw_fuzz_target(fuzz_kms_sealer kms src/kms/fuzz/fuzz_kms_sealer.c
  ${CMAKE_SOURCE_DIR}/src/kms/fuzz/corpus_kms_sealer)
# Benchmark (bench/kms/run.sh), not a test.
if(NOT BW_FUZZ)
  add_executable(kms_bench ${CMAKE_SOURCE_DIR}/bench/kms/kms_bench.c)
  target_link_libraries(kms_bench PRIVATE bw_kms)
endif()
