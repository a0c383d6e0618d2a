bw_module(http
  SOURCES src/http/http_limits.c src/http/http_fields.c
          src/http/http_request.c src/http/http_response.c
          src/http/http_body.c src/http/http_write.c
  DEPS core)
bw_unit_test(test_http_request http src/http/tests/test_http_request.c)
bw_unit_test(test_http_body http src/http/tests/test_http_body.c)
bw_unit_test(test_http_response http src/http/tests/test_http_response.c)
bw_fuzz_target(fuzz_http_request http src/http/fuzz/fuzz_http_request.c
  ${CMAKE_SOURCE_DIR}/src/http/fuzz/corpus_http_request)
bw_fuzz_target(fuzz_http_response http src/http/fuzz/fuzz_http_response.c
  ${CMAKE_SOURCE_DIR}/src/http/fuzz/corpus_http_response)
