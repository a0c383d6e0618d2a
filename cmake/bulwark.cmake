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

# bw_module(NAME SOURCES file... DEPS module-or-target...) — one static
# library per module, bw_NAME, linking the modules it depends on. Keeping
# modules apart means a test links only what it needs, and a module cannot
# reach another it did not declare.
function(bw_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(bw_${name} STATIC ${M_SOURCES})
  target_include_directories(bw_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  set(deps)
  foreach(d ${M_DEPS})
    if(EXISTS ${CMAKE_SOURCE_DIR}/src/${d}/module.cmake)
      list(APPEND deps bw_${d})
    else()
      list(APPEND deps ${d})
    endif()
  endforeach()
  target_link_libraries(bw_${name} PUBLIC ${deps})
  set_property(GLOBAL APPEND PROPERTY BW_MODULES bw_${name})
endfunction()

# bw_unit_test(NAME MODULE source...) — a cmocka test linking module bw_MODULE,
# run by CTest under the label "unit".
function(bw_unit_test name module)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE bw_${module} PkgConfig::CMOCKA)
  # cmocka's assert_non_null() fails by longjmp from a function the
  # compiler does not know never returns, so at -O3 every dereference of
  # an asserted pointer looks like a possible NULL dereference.
  target_compile_options(${name} PRIVATE -Wno-null-dereference)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit
    ENVIRONMENT "BW_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# bw_fuzz_target(NAME MODULE source CORPUS_DIR) — a libFuzzer entry point
# (LLVMFuzzerTestOneInput). Every build gets a replay binary that runs each
# corpus file once, as a CTest test labelled "fuzz-replay"; with BW_FUZZ the
# real libFuzzer binary NAME is built too.
function(bw_fuzz_target name module source corpus)
  if(NOT BW_FUZZ)
  add_executable(replay_${name} ${source} ${CMAKE_SOURCE_DIR}/tests/fuzz_replay.c)
  target_link_libraries(replay_${name} PRIVATE bw_${module})
  add_test(NAME replay_${name} COMMAND replay_${name} ${corpus})
  set_tests_properties(replay_${name} PROPERTIES LABELS fuzz-replay)
  else()
    add_executable(${name} ${source})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE bw_${module})
    set_property(GLOBAL APPEND PROPERTY BW_FUZZ_TARGETS "${name}|${corpus}")
  endif()
endfunction()
