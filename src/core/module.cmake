bw_sources(src/core/err.c src/core/log.c src/core/clock.c src/core/util.c
           src/core/buf.c src/core/arena.c)
bw_unit_test(test_core src/core/tests/test_core.c)
