# Install rules. `cmake --install build --prefix P` gives
#   runtime  P/bin/herald, P/lib/herald/plugins/herald_<name>.so (every in-tree driver),
#            P/etc/herald/broadcasting.toml, P/share/doc/herald/ (README, CHANGELOG, copyright),
#            P/share/man/man1/herald.1.gz
#   dev      P/include/herald/{driver.h,driver.hpp,version.h}, P/lib/cmake/Herald/ (the CMake
#            package: Herald::sdk and herald_add_driver), P/lib/pkgconfig/herald-sdk.pc,
#            P/share/doc/herald/ (sdk.md, examples/driver-skeleton)
# Everything is relative to P, so the tree can move: `herald` finds its plugins and config
# relative to its own binary. One exception, decided when the install runs (not when the build
# is configured, so one build gives both the relocatable .tar.gz and the .deb): for the prefix
# /usr the config goes to /etc/herald (GNUInstallDirs' rule for sysconfdir), the systemd unit to
# /lib/systemd/system and each package's docs to /usr/share/doc/<package> with the Debian
# copyright and changelog.gz (packaging/install-layout.cmake.in).
include(CMakePackageConfigHelpers)

set(HERALD_CMAKE_PACKAGE_INSTALL_DIR "lib/cmake/Herald")
set(HERALD_PKGCONFIG_INSTALL_DIR "lib/pkgconfig")
set(HERALD_PACKAGE_MAINTAINER "Herald maintainers <herald@lists.herald-project.org>"
    CACHE STRING "Maintainer named in the .deb packages and their changelog")

# ---- runtime: the binary and every in-tree driver -------------------------------------------
install(TARGETS herald RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime)

# Every herald_add_driver target whose library lands in the build tree's plugin directory (the
# test fixtures are built elsewhere, so they are never installed). Plugins are not programs:
# 0644, as Debian wants for shared objects.
get_property(_herald_drivers GLOBAL PROPERTY HERALD_DRIVER_TARGETS)
set(HERALD_INSTALLED_DRIVERS)
foreach(_target IN LISTS _herald_drivers)
  get_target_property(_dir ${_target} LIBRARY_OUTPUT_DIRECTORY)
  if(_dir STREQUAL HERALD_PLUGIN_OUTPUT_DIR)
    install(TARGETS ${_target}
            LIBRARY DESTINATION "${HERALD_PLUGIN_INSTALL_DIR}" COMPONENT runtime
                    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    list(APPEND HERALD_INSTALLED_DRIVERS ${_target})
  endif()
endforeach()
message(STATUS "Herald: drivers to install: ${HERALD_INSTALLED_DRIVERS}")

# ---- dev: the SDK -----------------------------------------------------------------------------
install(DIRECTORY "${PROJECT_SOURCE_DIR}/sdk/include/herald/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/herald" COMPONENT dev
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(FILES "${HERALD_SDK_GENERATED_INCLUDE_DIR}/herald/version.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/herald" COMPONENT dev)

install(TARGETS herald_sdk EXPORT HeraldTargets COMPONENT dev)
install(EXPORT HeraldTargets NAMESPACE Herald:: DESTINATION "${HERALD_CMAKE_PACKAGE_INSTALL_DIR}"
        COMPONENT dev)
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/HeraldConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/HeraldConfig.cmake"
  INSTALL_DESTINATION "${HERALD_CMAKE_PACKAGE_INSTALL_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR HERALD_PLUGIN_INSTALL_DIR)
# The package is versioned by the SDK (= the driver ABI), not by the host's release: a driver
# asks for find_package(Herald 1.1) when it needs ABI 1.1, and any later 1.x satisfies it.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/HeraldConfigVersion.cmake"
  VERSION "${HERALD_SDK_VERSION}" COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/cmake/HeraldConfig.cmake"
              "${PROJECT_BINARY_DIR}/cmake/HeraldConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/HeraldAddDriver.cmake"
        DESTINATION "${HERALD_CMAKE_PACKAGE_INSTALL_DIR}" COMPONENT dev)

configure_file("${PROJECT_SOURCE_DIR}/cmake/herald-sdk.pc.in"
               "${PROJECT_BINARY_DIR}/pkgconfig/herald-sdk.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/herald-sdk.pc"
        DESTINATION "${HERALD_PKGCONFIG_INSTALL_DIR}" COMPONENT dev)

# ---- the manual page, and what depends on the prefix at install time -----------------------
# Compressed as Debian wants them (gzip -9n: no name, no time stamp): the manual page and a
# Debian changelog entry for the packages' doc directories.
find_program(HERALD_GZIP gzip REQUIRED)
string(TIMESTAMP HERALD_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in"
               "${PROJECT_BINARY_DIR}/packaging/changelog" @ONLY)
configure_file("${PROJECT_SOURCE_DIR}/packaging/herald.1" "${PROJECT_BINARY_DIR}/packaging/herald.1"
               COPYONLY)
foreach(_file changelog herald.1)
  execute_process(COMMAND "${HERALD_GZIP}" -9nf "${PROJECT_BINARY_DIR}/packaging/${_file}"
                  RESULT_VARIABLE _gzip_result)
  if(NOT _gzip_result EQUAL 0)
    message(FATAL_ERROR "gzip failed on ${PROJECT_BINARY_DIR}/packaging/${_file}")
  endif()
endforeach()
install(FILES "${PROJECT_BINARY_DIR}/packaging/herald.1.gz"
        DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT runtime)

configure_file("${PROJECT_SOURCE_DIR}/packaging/install-layout.cmake.in"
               "${PROJECT_BINARY_DIR}/packaging/install-layout.cmake" @ONLY)
foreach(_component runtime dev)
  install(CODE "set(HERALD_COMPONENT ${_component})
include(\"${PROJECT_BINARY_DIR}/packaging/install-layout.cmake\")"
          COMPONENT ${_component})
endforeach()
