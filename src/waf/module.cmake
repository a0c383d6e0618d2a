# waf — SecLang parser/compiler and the runtime engine (transactions,
# variables, operators, transformations, body processors, audit log).
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
if(NOT TARGET PkgConfig::HS)
  pkg_check_modules(HS REQUIRED IMPORTED_TARGET libhs)
endif()
if(NOT TARGET PkgConfig::LIBXML2)
  pkg_check_modules(LIBXML2 REQUIRED IMPORTED_TARGET libxml-2.0)
endif()
bw_module(waf
  SOURCES src/waf/waf_names.c src/waf/waf_rule.c src/waf/waf_data.c
          src/waf/waf_conf.c src/waf/waf_ruleset.c
          src/waf/waf_hs.c src/waf/waf_tfn.c src/waf/waf_var.c
          src/waf/waf_op.c src/waf/waf_act.c src/waf/waf_tx.c
          src/waf/waf_body_json.c src/waf/waf_body_xml.c
          src/waf/waf_body_multipart.c src/waf/waf_sqli.c src/waf/waf_xss.c
          src/waf/waf_audit.c src/waf/waf_rxlit.c src/waf/waf_persist.c
          src/waf/waf_auditlog.c src/waf/waf_explain.c
  DEPS core json PkgConfig::PCRE2 PkgConfig::HS PkgConfig::LIBXML2)
# The WAF's admin REST routes (explain), apart so the engine does not
# depend on the admin API.
bw_module(waf_api SOURCES src/waf/waf_api.c DEPS waf api)
bw_unit_test(test_waf_rule waf src/waf/tests/test_waf_rule.c)
bw_unit_test(test_waf_conf waf src/waf/tests/test_waf_conf.c)
bw_unit_test(test_waf_crs waf src/waf/tests/test_waf_crs.c)
bw_fuzz_target(fuzz_seclang waf src/waf/fuzz/fuzz_seclang.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_seclang)

# Differential conformance test against libmodsecurity3 (test driver only;
# bulwark itself never links it). Skipped when libmodsecurity-dev or the
# CRS package is missing, so a minimal build still configures.
if(NOT BW_FUZZ)
  pkg_check_modules(MODSEC QUIET IMPORTED_TARGET modsecurity)
  if(MODSEC_FOUND AND EXISTS /etc/modsecurity/crs/crs-setup.conf)
    add_executable(waf_diff_driver tests/waf/diff_driver.c)
    target_link_libraries(waf_diff_driver PRIVATE bw_waf PkgConfig::MODSEC)
    add_test(NAME waf_diff COMMAND waf_diff_driver ${CMAKE_SOURCE_DIR})
    # libmodsecurity keeps process-lifetime allocations LeakSanitizer
    # would report as leaks; bulwark's own leaks are caught by the unit
    # tests, which run with leak detection.
    set_tests_properties(waf_diff PROPERTIES LABELS waf-diff
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
    # The JSON audit log has libmodsecurity3's shape: both engines write
    # their own log for the same request and the keys are compared.
    add_executable(waf_audit_shape tests/waf/audit_shape.c)
    target_link_libraries(waf_audit_shape PRIVATE bw_waf PkgConfig::MODSEC)
    add_test(NAME waf_audit_shape COMMAND waf_audit_shape ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(waf_audit_shape PROPERTIES LABELS waf-diff
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
    # Engine benchmark (bench/waf/run.sh), not a test.
    add_executable(waf_bench bench/waf/waf_bench.c)
    target_link_libraries(waf_bench PRIVATE bw_waf PkgConfig::MODSEC)
  endif()
endif()
bw_unit_test(test_waf_tfn waf src/waf/tests/test_waf_tfn.c)
bw_unit_test(test_waf_tx waf src/waf/tests/test_waf_tx.c)
bw_unit_test(test_waf_body waf src/waf/tests/test_waf_body.c)
bw_unit_test(test_waf_detect waf src/waf/tests/test_waf_detect.c)
bw_fuzz_target(fuzz_waf_multipart waf src/waf/fuzz/fuzz_waf_multipart.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_waf_multipart)
bw_fuzz_target(fuzz_waf_urlencoded waf src/waf/fuzz/fuzz_waf_urlencoded.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_waf_urlencoded)
bw_fuzz_target(fuzz_waf_tfn waf src/waf/fuzz/fuzz_waf_tfn.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_waf_tfn)
bw_fuzz_target(fuzz_waf_sqli waf src/waf/fuzz/fuzz_waf_sqli.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_waf_sqli)
bw_fuzz_target(fuzz_waf_rxlit waf src/waf/fuzz/fuzz_waf_rxlit.c
  ${CMAKE_SOURCE_DIR}/src/waf/fuzz/corpus_waf_rxlit)
bw_unit_test(test_waf_log waf src/waf/tests/test_waf_log.c)
