bw_module(json
  SOURCES src/json/json_parse.c src/json/json_get.c src/json/json_write.c
          src/json/json_text.c src/json/json_number.c src/json/json_canon.c
  DEPS core)
bw_unit_test(test_json_parse json src/json/tests/test_json_parse.c)
bw_unit_test(test_json_write json src/json/tests/test_json_write.c)
bw_unit_test(test_json_canon json src/json/tests/test_json_canon.c)
bw_fuzz_target(fuzz_json_parse json src/json/fuzz/fuzz_json_parse.c
  ${CMAKE_SOURCE_DIR}/src/json/fuzz/corpus_json_parse)
