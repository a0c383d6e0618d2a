# store: the storage interface (store.h) and its SQLite driver.
bw_module(store
  SOURCES src/store/store.c src/store/store_write.c src/store/store_migrate.c
          src/store/store_sql.c src/store/store_sqlite.c
  DEPS core PkgConfig::SQLITE Threads::Threads)

bw_unit_test(test_store store src/store/tests/test_store.c)
bw_unit_test(test_store_write store src/store/tests/test_store_write.c)
bw_unit_test(test_store_sql store src/store/tests/test_store_sql.c)
bw_unit_test(test_store_crash store src/store/tests/test_store_crash.c)
set_tests_properties(test_store_crash PROPERTIES TIMEOUT 120)

bw_fuzz_target(fuzz_sql store src/store/fuzz/fuzz_sql.c
  ${CMAKE_SOURCE_DIR}/src/store/fuzz/corpus_sql)

# The benchmark is not a test: bench/store/run.sh builds and runs it.
add_executable(store_bench bench/store/store_bench.c)
target_link_libraries(store_bench PRIVATE bw_store)
