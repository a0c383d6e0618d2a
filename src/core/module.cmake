bw_module(core
  SOURCES src/core/err.c src/core/log.c src/core/clock.c src/core/util.c
          src/core/buf.c src/core/arena.c
  DEPS PkgConfig::OPENSSL Threads::Threads m)
bw_unit_test(test_core core src/core/tests/test_core.c)
