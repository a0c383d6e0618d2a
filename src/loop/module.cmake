bw_module(loop SOURCES src/loop/loop.c src/loop/tpool.c DEPS core Threads::Threads)
bw_unit_test(test_loop loop src/loop/tests/test_loop.c)
