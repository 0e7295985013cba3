# CPack: `cpack -G TGZ` and `cpack -G DEB` in a build directory (or `cpack` for both).
#   herald-<version>-Linux-<arch>.tar.gz   the whole install, relocatable (runtime + dev)
#   herald_<version>_<arch>.deb            host, drivers, /etc/herald conffile, systemd unit,
#                                          `herald` system user; dependencies from dpkg-shlibdeps
#   herald-dev_<version>_all.deb           the SDK: headers, CMake package, pkg-config, docs
# The .deb is staged with the prefix /usr (and DESTDIR), which is what puts the config in /etc
# (packaging/install-layout.cmake.in); the .tar.gz keeps the relocatable layout.
set(CPACK_PACKAGE_NAME herald)
set(CPACK_PACKAGE_VENDOR "Herald project")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${HERALD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Real-time event broadcasting host with driver plugins")
set(CPACK_PACKAGE_CHECKSUM SHA256)
set(CPACK_GENERATOR TGZ DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_STRIP_FILES ON)
set(CPACK_THREADS 0)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_PACKAGE_FILE_NAME "herald-${PROJECT_VERSION}-${CMAKE_SYSTEM_NAME}-${CMAKE_SYSTEM_PROCESSOR}")

# The archive is one tree of everything, like `cmake --install --prefix P`.
set(CPACK_ARCHIVE_COMPONENT_INSTALL OFF)

# Debian: one package per component. The first line of each description is its synopsis.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME herald)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")  # merged with the shlibdeps result
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/deb/conffiles"
    "${PROJECT_SOURCE_DIR}/packaging/deb/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/deb/prerm"
    "${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "Real-time event broadcasting host with driver plugins
Herald publishes events (a topic and a message) from any language and fans
them out through driver plugins: log, null and the network drivers built
with this release. It reimplements the Spiral Framework broadcasting
component (connections, aliases, driver aliases, topic authorization) as a
native host configured with TOML.

This package provides the herald command, the drivers in
/usr/lib/herald/plugins, the configuration /etc/herald/broadcasting.toml
and the herald.service systemd unit (not enabled on install).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME herald-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_DEV_PACKAGE_ARCHITECTURE all)  # header-only SDK
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "herald (>= ${PROJECT_VERSION}), cmake, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "Herald driver SDK: build driver plugins for Herald
The SDK for third-party Herald drivers: the C driver ABI (herald/driver.h),
its header-only C++20 wrapper (herald/driver.hpp), the CMake package Herald
with herald_add_driver(), the pkg-config file herald-sdk, the SDK guide and
an out-of-tree example driver.")

# The .deb is staged with DESTDIR under the prefix /usr; the archive keeps relative paths.
configure_file("${PROJECT_SOURCE_DIR}/packaging/cpack-options.cmake.in"
               "${PROJECT_BINARY_DIR}/packaging/cpack-options.cmake" @ONLY)
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_BINARY_DIR}/packaging/cpack-options.cmake")

include(CPack)
