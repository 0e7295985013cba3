#!/usr/bin/env bash
# The build the sdk and deb packaging tests install and package is the build under test itself
# (scripts/test.sh builds it once, Release with -Werror; no second Release tree is built). This
# checks it has what packaging needs and says its build type.
#   release_build.sh SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/common.sh"
build=$(realpath "$2")

step "$build is complete for packaging"
expect_file "$build/bin/herald" "$build/lib/herald/plugins/herald_log.so" \
  "$build/lib/herald/plugins/herald_null.so" "$build/CPackConfig.cmake" "$build/cmake_install.cmake"
[ -x "$build/bin/herald" ] || fail "$build/bin/herald is not executable"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
sanitize=$(sed -n 's/^HERALD_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -z "$sanitize" ] || fail "$build is a sanitizer build ($sanitize): it must not be packaged"
if [ "$build_type" != Release ]; then
  echo "note: $build is a $build_type build; scripts/test.sh packages a Release build"
fi
echo "OK ($build_type)"
