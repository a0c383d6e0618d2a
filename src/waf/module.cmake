# waf — SecLang parser and rule compiler (the runtime engine comes later).
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
bw_module(waf
  SOURCES src/waf/waf_names.c src/waf/waf_rule.c src/waf/waf_data.c
          src/waf/waf_conf.c src/waf/waf_ruleset.c
  DEPS core PkgConfig::PCRE2)
bw_unit_test(test_waf_rule waf src/waf/tests/test_waf_rule.c)
bw_unit_test(test_waf_conf waf src/waf/tests/test_waf_conf.c)
bw_unit_test(test_waf_crs waf src/waf/tests/test_waf_crs.c)
bw_fuzz_target(fuzz_seclang waf src/waf/fuzz/fuzz_seclang.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_seclang)
