# p11: libbulwark-pkcs11.so, the PKCS#11 module whose keys live in the
# key process (src/p11/p11_module.c), and its wire protocol (p11_wire.c),
# which the worker's socket server (src/kms/kms_p11.c) shares through the
# static library bw_p11. docs/keystore.md explains the set-up.
bw_module(p11 SOURCES src/p11/p11_wire.c DEPS)
target_include_directories(bw_p11 PUBLIC /usr/include/p11-kit-1)
bw_unit_test(test_p11_wire p11 src/p11/tests/test_p11_wire.c)
bw_fuzz_target(fuzz_p11_wire p11 src/p11/fuzz/fuzz_p11_wire.c
  ${CMAKE_SOURCE_DIR}/src/p11/fuzz/corpus_p11_wire)

if(NOT BW_FUZZ)
  # The module is loaded into other programs (pkcs11-tool, OpenSSL, Java):
  # position-independent, only C_* exported, no sanitizer runtime even in
  # sanitizer builds (the host program does not carry one), and nothing of
  # the daemon but the wire protocol.
  add_library(bulwark-pkcs11 SHARED src/p11/p11_module.c src/p11/p11_object.c
    src/p11/p11_crypto.c src/p11/p11_wire.c)
  set_target_properties(bulwark-pkcs11 PROPERTIES
    POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET default
    LINK_DEPENDS ${CMAKE_SOURCE_DIR}/src/p11/p11.map)
  target_include_directories(bulwark-pkcs11 PRIVATE ${CMAKE_SOURCE_DIR}/src
    /usr/include/p11-kit-1)
  get_target_property(p11_copts bulwark-pkcs11 COMPILE_OPTIONS)
  get_target_property(p11_lopts bulwark-pkcs11 LINK_OPTIONS)
  foreach(o -fsanitize=address,undefined -fno-sanitize-recover=undefined)
    if(p11_copts)
      list(REMOVE_ITEM p11_copts ${o})
    endif()
    if(p11_lopts)
      list(REMOVE_ITEM p11_lopts ${o})
    endif()
  endforeach()
  if(p11_lopts)
    list(REMOVE_ITEM p11_lopts -pie)
  endif()
  set_target_properties(bulwark-pkcs11 PROPERTIES COMPILE_OPTIONS "${p11_copts}")
  set_target_properties(bulwark-pkcs11 PROPERTIES LINK_OPTIONS "${p11_lopts}")
  target_link_options(bulwark-pkcs11 PRIVATE
    -Wl,--version-script=${CMAKE_SOURCE_DIR}/src/p11/p11.map -Wl,--no-undefined)
  target_link_libraries(bulwark-pkcs11 PRIVATE PkgConfig::OPENSSL Threads::Threads)
  # p11check: the module's conformance client (tests/integration/t_pkcs11.sh).
  add_executable(p11check ${CMAKE_SOURCE_DIR}/tests/p11/p11check.c)
  target_include_directories(p11check PRIVATE ${CMAKE_SOURCE_DIR}/src /usr/include/p11-kit-1)
  target_link_libraries(p11check PRIVATE PkgConfig::OPENSSL ${CMAKE_DL_LIBS})
  # p11bench: the same harness for bulwark's module and SoftHSM2 (bench/kms).
  add_executable(p11bench ${CMAKE_SOURCE_DIR}/bench/kms/p11bench.c)
  target_include_directories(p11bench PRIVATE ${CMAKE_SOURCE_DIR}/src /usr/include/p11-kit-1)
  target_link_libraries(p11bench PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
endif()
