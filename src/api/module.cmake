bw_module(api SOURCES src/api/api.c DEPS core json net audit event loop PkgConfig::OPENSSL)
