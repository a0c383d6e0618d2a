bw_module(conf
  SOURCES src/conf/conf_load.c src/conf/conf_node.c src/conf/conf_value.c
          src/conf/conf_bind.c src/conf/conf_secret.c
  DEPS core PkgConfig::YAML)
bw_unit_test(test_conf_load conf src/conf/tests/test_conf_load.c)
bw_unit_test(test_conf_value conf src/conf/tests/test_conf_value.c)
bw_unit_test(test_conf_bind conf src/conf/tests/test_conf_bind.c)
bw_fuzz_target(fuzz_conf_load conf src/conf/fuzz/fuzz_conf_load.c
  ${CMAKE_SOURCE_DIR}/src/conf/fuzz/corpus_conf_load)
