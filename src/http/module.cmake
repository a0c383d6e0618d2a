bw_module(http
  SOURCES src/http/http_limits.c src/http/http_fields.c
          src/http/http_request.c src/http/http_response.c
          src/http/http_body.c src/http/http_write.c
  DEPS core)
bw_unit_test(test_http_request http src/http/tests/test_http_request.c)
bw_unit_test(test_http_body http src/http/tests/test_http_body.c)
bw_unit_test(test_http_response http src/http/tests/test_http_response.c)
