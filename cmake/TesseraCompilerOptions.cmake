# Compiler settings shared by every Tessera target.
#
# tessera_apply_warnings(<target>) turns on the strict warning set for code we
# write; generated code (protobuf/gRPC) and third-party headers are left alone.

find_program(TESSERA_CCACHE ccache)
if(TESSERA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${TESSERA_CCACHE}")
  message(STATUS "Using ccache: ${TESSERA_CCACHE}")
endif()

# Fuzzing: every object file gets libFuzzer's coverage instrumentation
# (fuzzer-no-link), so the fuzz targets see into the product code while the
# ordinary test binaries, linked without libFuzzer's main, still build and
# run from the same build folder. Only the fuzz targets link -fsanitize=fuzzer.
if(TESSERA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "TESSERA_FUZZ=ON needs clang (libFuzzer ships with it), but the C++ compiler is "
      "${CMAKE_CXX_COMPILER_ID}. Configure a fresh build folder with "
      "CC=clang CXX=clang++ cmake ... -DTESSERA_FUZZ=ON (Debian 12: apt-get install clang libclang-rt-14-dev).")
  endif()
  # The coverage callbacks the instrumented code calls come with the
  # sanitizer runtimes (weak no-ops outside libFuzzer), and fuzzing without
  # AddressSanitizer and UBSan would miss most findings: fuzzing implies them.
  if(NOT TESSERA_SANITIZE)
    message(STATUS "TESSERA_FUZZ=ON turns on TESSERA_SANITIZE")
    set(TESSERA_SANITIZE ON CACHE BOOL "Build with AddressSanitizer and UndefinedBehaviorSanitizer" FORCE)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(TESSERA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(tessera_apply_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
  if(TESSERA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# tessera_library(<name> SOURCES ... DEPS ...) declares one library per folder.
function(tessera_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}/generated")
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  tessera_apply_warnings(${name})
endfunction()
