#!/usr/bin/env bash
# `cmake --install` of the build tree under test: every driver the build put in
# lib/herald/plugins is installed, none of the test fixtures, and only the SDK's headers.
#   install_tree_test.sh BUILD_DIR
source "$(dirname "$0")/common.sh"
build=$(realpath "$1")
make_work_dir install-tree
work=$WORK

step "cmake --install $build --prefix $work/prefix"
run_ok "cmake --install" cmake --install "$build" --prefix "$work/prefix"
prefix=$work/prefix

step "every driver of $build/lib/herald/plugins is installed, and nothing else"
built=$(so_names "$build/lib/herald/plugins")
[ -n "$built" ] || fail "the build has no drivers in $build/lib/herald/plugins"
expect_same_list "installed plugins" "$built" "$(so_names "$prefix/lib/herald/plugins")"
expect_contains "installed plugins" "$built" "herald_log.so"
expect_contains "installed plugins" "$built" "herald_null.so"

step "no test fixture is installed"
fixtures=$(so_names "$build/tests/fixtures")
[ -n "$fixtures" ] || fail "no fixtures in $build/tests/fixtures to compare with"
leaked=$(find "$prefix" -name 'herald_fixture_*' -printf '%P\n')
[ -z "$leaked" ] || fail "fixtures installed: $leaked"

step "include/herald holds the SDK only"
expect_same_list "installed headers" "$(printf '%s\n' driver.h driver.hpp version.h)" \
  "$(find "$prefix/include" -type f -printf '%P\n' | sed 's|^herald/||' | sort)"

step "the installed binary and plugins carry no RUNPATH into the build tree"
for f in "$prefix/bin/herald" "$prefix"/lib/herald/plugins/*.so; do
  if readelf -d "$f" | grep -E 'RPATH|RUNPATH' | grep -qF "$build"; then
    fail "$f has a RUNPATH into $build"
  fi
done
echo "OK"
