# Compiler flags and the helpers each src/<module>/module.cmake uses.

set(BW_WARNINGS -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security
    -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla -Wundef
    -Wcast-align -Wnull-dereference -Wimplicit-fallthrough -Wno-unused-parameter)
add_compile_options(${BW_WARNINGS} -D_GNU_SOURCE -fstack-protector-strong
                    -fno-strict-aliasing -fstack-clash-protection)
add_link_options(-Wl,-z,relro,-z,now -Wl,-z,noexecstack -pie)

if(BW_SANITIZE OR BW_FUZZ)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(BW_SANITIZER_BUILD=1)
  if(BW_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
else()
  # FORTIFY needs optimisation and conflicts with ASan's interceptors.
  add_compile_options(-D_FORTIFY_SOURCE=3)
endif()
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo)
endif()
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O2 -g")

# bw_sources(file...) — add a module's sources to the bw library.
function(bw_sources)
  target_sources(bw PRIVATE ${ARGN})
endfunction()

# bw_unit_test(NAME source...) — a cmocka test run by CTest under the label "unit".
function(bw_unit_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE bw PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit
    ENVIRONMENT "BW_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# bw_fuzz_target(NAME source CORPUS_DIR) — a libFuzzer entry point
# (LLVMFuzzerTestOneInput). Every build gets a replay binary that runs each
# corpus file once, as a CTest test labelled "fuzz-replay"; with BW_FUZZ the
# real libFuzzer binary NAME is built too.
function(bw_fuzz_target name source corpus)
  add_executable(replay_${name} ${source} ${CMAKE_SOURCE_DIR}/tests/fuzz_replay.c)
  target_link_libraries(replay_${name} PRIVATE bw)
  add_test(NAME replay_${name} COMMAND replay_${name} ${corpus})
  set_tests_properties(replay_${name} PROPERTIES LABELS fuzz-replay)
  if(BW_FUZZ)
    add_executable(${name} ${source})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE bw)
    set_property(GLOBAL APPEND PROPERTY BW_FUZZ_TARGETS "${name}|${corpus}")
  endif()
endfunction()
