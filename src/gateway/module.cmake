# gateway — reverse proxy, rate limiting, L7 DDoS, bot management, WAF glue
# and the demo app (docs/internals/GATEWAY.md).
bw_module(gateway
  SOURCES src/gateway/gateway.c src/gateway/gateway_conf.c
          src/gateway/gateway_match.c src/gateway/gateway_fwd.c
          src/gateway/gateway_proxy.c src/gateway/gateway_upstream.c
          src/gateway/gateway_ratelimit.c src/gateway/gateway_ddos.c
          src/gateway/gateway_bot.c src/gateway/gateway_waf.c
          src/gateway/gateway_demo.c src/gateway/gateway_auth.c
  DEPS core json conf http net loop event waf crypto PkgConfig::OPENSSL)
bw_unit_test(test_gateway_match gateway src/gateway/tests/test_gateway_match.c)
bw_unit_test(test_gateway_fwd gateway src/gateway/tests/test_gateway_fwd.c)
bw_unit_test(test_gateway_limits gateway src/gateway/tests/test_gateway_limits.c)
bw_unit_test(test_gateway_bot gateway src/gateway/tests/test_gateway_bot.c)
bw_unit_test(test_gateway_proxy gateway src/gateway/tests/test_gateway_proxy.c)
bw_unit_test(test_gateway_conf gateway src/gateway/tests/test_gateway_conf.c)
bw_unit_test(test_gateway_auth gateway src/gateway/tests/test_gateway_auth.c)
bw_fuzz_target(fuzz_forwarded gateway src/gateway/fuzz/fuzz_forwarded.c
  ${CMAKE_SOURCE_DIR}/src/gateway/fuzz/corpus_forwarded)
bw_fuzz_target(fuzz_gwconf gateway src/gateway/fuzz/fuzz_gwconf.c
  ${CMAKE_SOURCE_DIR}/src/gateway/fuzz/corpus_gwconf)
# The gateway alone on one loop thread, for bench/gateway/run.sh.
if(NOT BW_FUZZ)
  add_executable(gwbench bench/gateway/gwbench.c)
  target_link_libraries(gwbench PRIVATE bw_gateway)
endif()
