# keystore: the key process (software HSM) and its wire protocol
# (docs/internals/KEYSTORE.md).
pkg_check_modules(ARGON2 REQUIRED IMPORTED_TARGET libargon2)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
bw_module(keystore
  SOURCES src/keystore/keystore_proto.c src/keystore/keystore_ctext.c
          src/keystore/keystore_shamir.c src/keystore/keystore_crypto.c
          src/keystore/keystore_kat.c src/keystore/keystore_keys.c
          src/keystore/keystore_seal.c src/keystore/keystore_engine.c
          src/keystore/keystore_harden.c src/keystore/keystore_main.c
  DEPS core PkgConfig::OPENSSL PkgConfig::ARGON2 PkgConfig::SECCOMP)
bw_unit_test(test_keystore_proto keystore src/keystore/tests/test_keystore_proto.c)
bw_unit_test(test_keystore_crypto keystore src/keystore/tests/test_keystore_crypto.c)
bw_unit_test(test_keystore_engine keystore src/keystore/tests/test_keystore_engine.c)
bw_fuzz_target(fuzz_keystore_proto keystore src/keystore/fuzz/fuzz_keystore_proto.c
  ${CMAKE_SOURCE_DIR}/src/keystore/fuzz/corpus_keystore_proto)
bw_fuzz_target(fuzz_kms_ciphertext keystore src/keystore/fuzz/fuzz_kms_ciphertext.c
  ${CMAKE_SOURCE_DIR}/src/keystore/fuzz/corpus_kms_ciphertext)
