bw_module(event SOURCES src/event/event.c DEPS core Threads::Threads)
bw_unit_test(test_event event src/event/tests/test_event.c)
