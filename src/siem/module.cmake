# siem — normalised events, log parsers, Sigma rules and correlation.
if(NOT TARGET PkgConfig::PCRE2)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()
bw_module(siem
  SOURCES src/siem/siem_event.c src/siem/siem_text.c src/siem/siem_syslog.c
          src/siem/siem_frame.c src/siem/siem_cef.c src/siem/siem_access.c
          src/siem/siem_msg.c
  DEPS core json conf event PkgConfig::PCRE2)
bw_unit_test(test_siem_event siem src/siem/tests/test_siem_event.c)
bw_unit_test(test_siem_syslog siem src/siem/tests/test_siem_syslog.c)
