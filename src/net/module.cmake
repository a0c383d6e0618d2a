bw_module(net
  SOURCES src/net/net_tls.c src/net/net_selfca.c src/net/net_listen.c
          src/net/net_http.c src/net/net_fetch.c
  DEPS core http loop event PkgConfig::OPENSSL PkgConfig::CURL)
bw_unit_test(test_net net src/net/tests/test_net.c)
