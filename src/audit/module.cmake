# audit: the tamper-evident audit log (docs/internals/AUDIT.md).
bw_module(audit
  SOURCES src/audit/audit_hash.c src/audit/audit_merkle.c
          src/audit/audit_record.c src/audit/audit_sign.c
          src/audit/audit_verify.c src/audit/audit_log.c
  DEPS core json PkgConfig::OPENSSL Threads::Threads)
