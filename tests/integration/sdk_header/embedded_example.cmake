# cmake -DHEADER=<driver.h> -DCC=<c compiler> -DOUT=<file.c> "-DFLAGS=<flags, space-separated>"
#       -P embedded_example.cmake
# Extracts the minimal C driver from driver.h's top comment (the lines from " *   #include
# <herald/driver.h>" to " *   HERALD_DEFINE_DRIVER(...)", tests/packaging/sdk_test.sh reads
# the same lines from the installed header) and compiles it with FLAGS: the example in the
# header must compile as written.
file(READ "${HEADER}" text)
string(FIND "${text}" " *   #include <herald/driver.h>" begin)
string(FIND "${text}" " *   HERALD_DEFINE_DRIVER(" end)
if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
  message(FATAL_ERROR "${HEADER}: no embedded example between '#include <herald/driver.h>' "
                      "and 'HERALD_DEFINE_DRIVER(' in its top comment")
endif()
string(SUBSTRING "${text}" ${begin} -1 rest)
math(EXPR tail_offset "${end} - ${begin}")
string(SUBSTRING "${rest}" ${tail_offset} -1 tail)
string(FIND "${tail}" "\n" last_len)
math(EXPR length "${tail_offset} + ${last_len}")
string(SUBSTRING "${rest}" 0 ${length} example)
string(REGEX REPLACE "(^|\n) \\*   ?" "\\1" example "${example}")
string(REGEX REPLACE "(^|\n) \\*(\n|$)" "\\1\\2" example "${example}")
file(WRITE "${OUT}" "${example}\n")
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
execute_process(COMMAND ${CC} ${flags} "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example in ${HEADER} (extracted to ${OUT}) does not compile")
endif()
