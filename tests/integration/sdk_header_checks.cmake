# driver.h on its own, for a C author (issue 9): included from tests/integration/CMakeLists.txt.
#  - fixtures/c_from_header_only.c, the driver the integration test c_driver_header_only_test
#    loads through `herald`, builds as strict C99 with every warning an error;
#  - it compiles against sdk/include alone (no build-tree directory, no other header);
#  - the minimal driver in driver.h's top comment compiles as written;
#  - sdk_header/exports.c: right exports compile, a mistyped one is a compile error, a
#    misspelt one is reported by -Wmissing-prototypes (the prototypes in driver.h make both so).
# Compiler-only checks (-fsyntax-only): each takes a fraction of a second.
if(NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  return()
endif()
set(HERALD_STRICT_C_FLAGS -std=c99 -Wall -Wextra -Wpedantic -Wmissing-prototypes -Werror)
set_target_properties(herald_driver_fixture_c_from_header_only PROPERTIES
  C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(herald_driver_fixture_c_from_header_only PRIVATE
  -Wall -Wextra -Wpedantic -Wmissing-prototypes -Werror)

set(sdk_include "${PROJECT_SOURCE_DIR}/sdk/include")
set(exports "${CMAKE_CURRENT_SOURCE_DIR}/sdk_header/exports.c")
add_test(NAME sdk_header.DriverFromHeaderAloneCompiles
  COMMAND ${CMAKE_C_COMPILER} ${HERALD_STRICT_C_FLAGS} -fsyntax-only -I${sdk_include}
          "${CMAKE_CURRENT_SOURCE_DIR}/fixtures/c_from_header_only.c")
add_test(NAME sdk_header.RightExportsCompile
  COMMAND ${CMAKE_C_COMPILER} ${HERALD_STRICT_C_FLAGS} -fsyntax-only -I${sdk_include} ${exports})
add_test(NAME sdk_header.MistypedExportIsACompileError
  COMMAND ${CMAKE_C_COMPILER} ${HERALD_STRICT_C_FLAGS} -fsyntax-only -I${sdk_include}
          -DHERALD_CHECK_WRONG_TYPE ${exports})
add_test(NAME sdk_header.MisspeltExportIsReported
  COMMAND ${CMAKE_C_COMPILER} ${HERALD_STRICT_C_FLAGS} -fsyntax-only -I${sdk_include}
          -DHERALD_CHECK_MISSPELT ${exports})
# Fail for the expected reason, not any: the compiler names the symbol (gcc and clang both).
set_tests_properties(sdk_header.MistypedExportIsACompileError PROPERTIES
  PASS_REGULAR_EXPRESSION "conflicting types for[^\n]*herald_driver_abi_version")
set_tests_properties(sdk_header.MisspeltExportIsReported PROPERTIES
  PASS_REGULAR_EXPRESSION "no previous prototype for[^\n]*herald_driver_abi_verison")
# The minimal driver in driver.h's top comment compiles as written (packaging.sdk also loads it).
string(JOIN " " strict_flags ${HERALD_STRICT_C_FLAGS} -fsyntax-only -I${sdk_include})
add_test(NAME sdk_header.EmbeddedExampleCompiles
  COMMAND ${CMAKE_COMMAND} -DHEADER=${sdk_include}/herald/driver.h -DCC=${CMAKE_C_COMPILER}
          -DOUT=${CMAKE_CURRENT_BINARY_DIR}/driver_h_example.c "-DFLAGS=${strict_flags}"
          -P ${CMAKE_CURRENT_SOURCE_DIR}/sdk_header/embedded_example.cmake)
