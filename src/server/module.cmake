bw_module(server
  SOURCES src/server/server_conf.c src/server/server_ctl.c src/server/server_main.c
          src/server/server_worker.c src/server/server_init.c
          src/server/server_files.c
  DEPS core conf http net loop event audit api store authz iam gateway keystore kms siem pki)
bw_unit_test(test_server_conf server src/server/tests/test_server_conf.c)
bw_fuzz_target(fuzz_server_conf server src/server/fuzz/fuzz_server_conf.c
               ${CMAKE_SOURCE_DIR}/src/server/fuzz/corpus_server_conf)
bw_fuzz_target(fuzz_reload_payload server src/server/fuzz/fuzz_reload_payload.c
               ${CMAKE_SOURCE_DIR}/src/server/fuzz/corpus_reload_payload)
