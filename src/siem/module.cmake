# siem — normalised events, log parsers, Sigma rules and correlation.
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
bw_module(siem
  SOURCES src/siem/siem_event.c src/siem/siem_doc.c src/siem/siem_text.c src/siem/siem_syslog.c
          src/siem/siem_frame.c src/siem/siem_cef.c src/siem/siem_access.c
          src/siem/siem_msg.c src/siem/siem_sigma_map.c src/siem/siem_sigma.c
          src/siem/siem_cond.c src/siem/siem_match.c src/siem/siem_corr.c
          src/siem/siem_relp.c
  DEPS core json conf event PkgConfig::PCRE2)
# Hyperscan accelerates the contains-sets of the rule index when present
# (libhyperscan-dev); without it the index scans needles with memmem.
if(NOT TARGET PkgConfig::HS)
  pkg_check_modules(HS QUIET IMPORTED_TARGET libhs)
endif()
if(TARGET PkgConfig::HS)
  target_link_libraries(bw_siem PUBLIC PkgConfig::HS)
  target_compile_definitions(bw_siem PRIVATE BW_HAVE_HYPERSCAN=1)
endif()
# The service (listeners, pipeline, storage, search, alerts, API) is a
# library of its own so the parsers and their fuzzers stay free of the
# runtime's dependencies.
bw_module(siem_svc
  SOURCES src/siem/siem_conf.c src/siem/siem_service.c src/siem/siem_ingest.c
          src/siem/siem_pipeline.c src/siem/siem_store.c src/siem/siem_alert.c
          src/siem/siem_http.c src/siem/siem_ext.c src/siem/siem_search.c
          src/siem/siem_api.c src/siem/siem_case.c src/siem/siem_report.c
          src/siem/siem_fmt.c src/siem/siem_fwd.c src/siem/siem_intel.c
          src/siem/siem_feeds.c src/siem/siem_geo.c src/siem/siem_anomaly.c
          src/siem/siem_seg.c
  DEPS siem store net loop api audit event json conf PkgConfig::OPENSSL
       PkgConfig::CURL m)
# GeoIP enrichment and impossible travel need libmaxminddb
# (libmaxminddb-dev); without it they are off and say so.
if(NOT TARGET PkgConfig::MAXMINDDB)
  pkg_check_modules(MAXMINDDB QUIET IMPORTED_TARGET libmaxminddb)
endif()
if(TARGET PkgConfig::MAXMINDDB)
  target_link_libraries(bw_siem_svc PUBLIC PkgConfig::MAXMINDDB)
  target_compile_definitions(bw_siem_svc PRIVATE BW_HAVE_MAXMINDDB=1)
endif()
bw_unit_test(test_siem_service siem_svc src/siem/tests/test_siem_service.c)
set_tests_properties(test_siem_service PROPERTIES TIMEOUT 120)
bw_unit_test(test_siem_api siem_svc src/siem/tests/test_siem_api.c)
target_link_libraries(test_siem_api PRIVATE PkgConfig::CURL)
set_tests_properties(test_siem_api PROPERTIES TIMEOUT 120)
bw_fuzz_target(fuzz_query siem_svc src/siem/fuzz/fuzz_query.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_query)
bw_unit_test(test_siem_fwd siem_svc src/siem/tests/test_siem_fwd.c)
set_tests_properties(test_siem_fwd PROPERTIES TIMEOUT 120)
bw_unit_test(test_siem_intel siem_svc src/siem/tests/test_siem_intel.c)
set_tests_properties(test_siem_intel PROPERTIES TIMEOUT 60)
bw_fuzz_target(fuzz_intel siem_svc src/siem/fuzz/fuzz_intel.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_intel)
bw_unit_test(test_siem_geo siem_svc src/siem/tests/test_siem_geo.c)
bw_unit_test(test_siem_anomaly siem_svc src/siem/tests/test_siem_anomaly.c)
bw_unit_test(test_siem_crash siem_svc src/siem/tests/test_siem_crash.c)
target_link_libraries(test_siem_crash PRIVATE PkgConfig::CURL)
set_tests_properties(test_siem_crash PROPERTIES TIMEOUT 300)
bw_unit_test(test_siem_event siem src/siem/tests/test_siem_event.c)
bw_unit_test(test_siem_syslog siem src/siem/tests/test_siem_syslog.c)
bw_unit_test(test_siem_samples siem src/siem/tests/test_siem_samples.c)
bw_fuzz_target(fuzz_syslog siem src/siem/fuzz/fuzz_syslog.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_syslog)
bw_fuzz_target(fuzz_cef siem src/siem/fuzz/fuzz_cef.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_cef)
bw_fuzz_target(fuzz_frame siem src/siem/fuzz/fuzz_frame.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_frame)
bw_unit_test(test_siem_sigma siem src/siem/tests/test_siem_sigma.c)
bw_unit_test(test_siem_corr siem src/siem/tests/test_siem_corr.c)
bw_unit_test(test_siem_relp siem src/siem/tests/test_siem_relp.c)
bw_fuzz_target(fuzz_relp siem src/siem/fuzz/fuzz_relp.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_relp)
bw_fuzz_target(fuzz_sigma siem src/siem/fuzz/fuzz_sigma.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_sigma)
bw_fuzz_target(fuzz_mapping siem src/siem/fuzz/fuzz_mapping.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_mapping)

# A stand-alone SIEM for the real-client tests (rsyslog, logger) and the
# benchmark, until the daemon wires the service.
add_executable(siem_testd tests/siem/siem_testd.c)
target_link_libraries(siem_testd PRIVATE bw_siem_svc)
add_test(NAME siem_rsyslog COMMAND ${CMAKE_SOURCE_DIR}/tests/siem/rsyslog_test.sh
  $<TARGET_FILE:siem_testd>)
set_tests_properties(siem_rsyslog PROPERTIES LABELS integration TIMEOUT 180
  SKIP_RETURN_CODE 77 ENVIRONMENT "BW_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# The benchmark is not a test: bench/siem/run.sh builds and runs it.
add_executable(siem_bench bench/siem/siem_bench.c)
target_link_libraries(siem_bench PRIVATE bw_siem)

# The compact stored event: round trips and hostile documents.
bw_unit_test(test_siem_doc siem src/siem/tests/test_siem_doc.c)
bw_fuzz_target(fuzz_doc siem src/siem/fuzz/fuzz_doc.c
  ${CMAKE_SOURCE_DIR}/src/siem/fuzz/corpus_doc)
