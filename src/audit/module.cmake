# audit: the tamper-evident audit log (docs/internals/AUDIT.md).
bw_module(audit
  SOURCES src/audit/audit_hash.c src/audit/audit_merkle.c
          src/audit/audit_record.c src/audit/audit_sign.c
          src/audit/audit_verify.c src/audit/audit_log.c
  DEPS core json PkgConfig::OPENSSL Threads::Threads)
bw_unit_test(test_audit_merkle audit src/audit/tests/test_audit_merkle.c)
bw_unit_test(test_audit_record audit src/audit/tests/test_audit_record.c)
bw_unit_test(test_audit_log audit src/audit/tests/test_audit_log.c)
