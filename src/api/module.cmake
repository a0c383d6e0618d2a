bw_module(api
  SOURCES src/api/api.c src/api/api_system.c src/api/api_metrics.c src/api/api_token.c
          src/api/api_stepup.c
  DEPS core json net audit event loop PkgConfig::OPENSSL)
