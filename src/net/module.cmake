if(NOT TARGET PkgConfig::NGHTTP2)
  pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
endif()
bw_module(net
  SOURCES src/net/net_tls.c src/net/net_selfca.c src/net/net_listen.c
          src/net/net_http.c src/net/net_fetch.c src/net/net_h2.c src/net/net_stream.c
          src/net/net_tlsrec.c
  DEPS core http loop event PkgConfig::OPENSSL PkgConfig::CURL PkgConfig::NGHTTP2)
bw_unit_test(test_net net src/net/tests/test_net.c)
bw_unit_test(test_net_tlsrec net src/net/tests/test_net_tlsrec.c)
bw_fuzz_target(fuzz_tlsrec net src/net/fuzz/fuzz_tlsrec.c
  ${CMAKE_SOURCE_DIR}/src/net/fuzz/corpus_tlsrec)
