bw_module(net
  SOURCES src/net/net_tls.c src/net/net_selfca.c src/net/net_listen.c
          src/net/net_http.c
  DEPS core http loop event PkgConfig::OPENSSL)
