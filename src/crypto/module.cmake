# crypto: thin OpenSSL helpers and JOSE (docs/internals/JOSE.md).
bw_module(crypto
  SOURCES src/crypto/crypto_util.c src/crypto/crypto_jwk.c src/crypto/crypto_jws.c
  DEPS core json PkgConfig::OPENSSL m)
bw_unit_test(test_crypto_util crypto src/crypto/tests/test_crypto_util.c)
bw_unit_test(test_jose_jwk crypto src/crypto/tests/test_jose_jwk.c)
bw_unit_test(test_jose_jws crypto src/crypto/tests/test_jose_jws.c)
bw_fuzz_target(fuzz_jose_jws crypto src/crypto/fuzz/fuzz_jose_jws.c
  ${CMAKE_SOURCE_DIR}/src/crypto/fuzz/corpus_jose_jws)
bw_fuzz_target(fuzz_jose_jwk crypto src/crypto/fuzz/fuzz_jose_jwk.c
  ${CMAKE_SOURCE_DIR}/src/crypto/fuzz/corpus_jose_jwk)
