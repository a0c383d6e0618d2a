# audit: the tamper-evident audit log (docs/internals/AUDIT.md).
bw_module(audit
  SOURCES src/audit/audit_hash.c src/audit/audit_merkle.c
          src/audit/audit_record.c src/audit/audit_sign.c
          src/audit/audit_verify.c src/audit/audit_log.c
  DEPS core json PkgConfig::OPENSSL Threads::Threads)
bw_unit_test(test_audit_merkle audit src/audit/tests/test_audit_merkle.c)
bw_unit_test(test_audit_record audit src/audit/tests/test_audit_record.c)
bw_unit_test(test_audit_log audit src/audit/tests/test_audit_log.c)
bw_fuzz_target(fuzz_audit_line audit src/audit/fuzz/fuzz_audit_line.c
  ${CMAKE_SOURCE_DIR}/src/audit/fuzz/corpus_audit_line)
bw_fuzz_target(fuzz_audit_verify audit src/audit/fuzz/fuzz_audit_verify.c
  ${CMAKE_SOURCE_DIR}/src/audit/fuzz/corpus_audit_verify)
# Benchmark (bench/audit/run.sh), not a test.
if(NOT BW_FUZZ)
  add_executable(audit_bench ${CMAKE_SOURCE_DIR}/bench/audit/audit_bench.c)
  target_link_libraries(audit_bench PRIVATE bw_audit)
endif()
