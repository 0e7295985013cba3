# herald_add_driver(<name> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>])
#
# Builds a driver plugin as a MODULE library named herald_<name>.so (target herald_driver_<name>),
# against the SDK only (Herald::sdk), with hidden visibility so just the two herald_driver_*
# symbols are exported.
#
# One file for both uses: in Herald's own tree (included by the top-level CMakeLists.txt) and
# installed as <prefix>/lib/cmake/Herald/HeraldAddDriver.cmake, where find_package(Herald)
# includes it for third-party drivers. In Herald's tree, plugins go to HERALD_PLUGIN_OUTPUT_DIR
# (build/lib/herald/plugins) unless OUTPUT_DIRECTORY says otherwise, and every target is
# recorded in the global property HERALD_DRIVER_TARGETS; cmake/HeraldInstall.cmake installs
# those that land in HERALD_PLUGIN_OUTPUT_DIR (the test fixtures go elsewhere and are not).
# Elsewhere the library lands in the current binary directory; install it with
#   install(TARGETS herald_driver_<name> LIBRARY DESTINATION ${Herald_PLUGIN_INSTALL_DIR})
function(herald_add_driver name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "herald_add_driver(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "herald_add_driver(${name}): SOURCES is required")
  endif()
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "herald_add_driver(${name}): the name must match [a-z0-9_-]+")
  endif()
  if(NOT TARGET Herald::sdk)
    message(FATAL_ERROR "herald_add_driver(${name}): no Herald::sdk target; "
                        "call find_package(Herald 1 REQUIRED) first")
  endif()
  set(target herald_driver_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Herald::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "herald_${name}"
    SUFFIX ".so"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # GNU "unique" symbols (inline statics of std templates) would make dlclose a no-op and keep
  # a plugin mapped forever; without them the library unloads with its last instance.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>)
  endif()
  # A plugin records libc as needed even when it calls none of it (a do-nothing driver): with
  # --as-needed, the default of some toolchains, it would not, and Debian requires it.
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # One option, as g++ moves a separate -lc to the end, past --pop-state.
    target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed,-lc,--pop-state")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED HERALD_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${HERALD_PLUGIN_OUTPUT_DIR}")
  endif()
  set_property(GLOBAL APPEND PROPERTY HERALD_DRIVER_TARGETS ${target})
endfunction()
