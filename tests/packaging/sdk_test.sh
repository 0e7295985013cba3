#!/usr/bin/env bash
# The installed SDK and the relocatable install, end to end:
#  1. `cmake --install` the Release build into a fresh prefix: the documented layout.
#  2. The installed herald, with no flags, finds its plugins and config (and the .tar.gz,
#     unpacked somewhere else, does too).
#  3. examples/driver-skeleton, copied out of the source tree, builds against that prefix only,
#     loads from a fresh plugin directory, and publishes through the installed herald.
#  4. A C driver builds against the prefix with the CMake package (C-only project) and with
#     pkg-config; a project asking for SDK 2 is refused.
#   sdk_test.sh SOURCE_DIR RELEASE_BUILD_DIR
source "$(dirname "$0")/common.sh"
src=$(realpath "$1")
build=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
make_work_dir sdk
work=$WORK
mkdir -p "$work/cwd"
prefix=$work/prefix

version=$(sed -n 's/^project(Herald VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
abi_major=$(sed -n 's/^#define HERALD_ABI_MAJOR \([0-9]*\)$/\1/p' "$src/sdk/include/herald/driver.h")
abi_minor=$(sed -n 's/^#define HERALD_ABI_MINOR \([0-9]*\)$/\1/p' "$src/sdk/include/herald/driver.h")
abi=$abi_major.$abi_minor
[ -n "$version" ] && [ -n "$abi_major" ] && [ -n "$abi_minor" ] || fail "cannot read the versions"

# ---- 1. the layout ---------------------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
run_ok "cmake --install" cmake --install "$build" --prefix "$prefix"

step "layout: bin, plugins, SDK headers, CMake package, pkg-config, config, docs"
expect_file "$prefix/bin/herald" \
  "$prefix/include/herald/driver.h" "$prefix/include/herald/driver.hpp" \
  "$prefix/include/herald/version.h" \
  "$prefix/lib/cmake/Herald/HeraldConfig.cmake" "$prefix/lib/cmake/Herald/HeraldConfigVersion.cmake" \
  "$prefix/lib/cmake/Herald/HeraldTargets.cmake" "$prefix/lib/cmake/Herald/HeraldAddDriver.cmake" \
  "$prefix/lib/pkgconfig/herald-sdk.pc" "$prefix/etc/herald/broadcasting.toml" \
  "$prefix/share/doc/herald/README.md" "$prefix/share/doc/herald/CHANGELOG.md" \
  "$prefix/share/doc/herald/sdk.md" "$prefix/share/doc/herald/copyright" \
  "$prefix/share/doc/herald/examples/driver-skeleton/CMakeLists.txt" \
  "$prefix/share/doc/herald/examples/driver-skeleton/README.md" \
  "$prefix/share/man/man1/herald.1.gz"
[ -x "$prefix/bin/herald" ] || fail "$prefix/bin/herald is not executable"
expect_same_list "installed plugins" "$(so_names "$build/lib/herald/plugins")" \
  "$(so_names "$prefix/lib/herald/plugins")"
cmp -s "$src/config/broadcasting.toml" "$prefix/etc/herald/broadcasting.toml" ||
  fail "the installed config differs from config/broadcasting.toml"
# No systemd unit outside the /usr layout: its paths would not follow the tree.
expect_no "$prefix/lib/systemd"
for f in "$prefix"/lib/herald/plugins/*.so; do expect_abi_exports "$f"; done
leaks=$(grep -rIl -e "$src" -e "$build" "$prefix" || true)
[ -z "$leaks" ] || fail "installed files name the source or build tree: $leaks"

step "CMake package version $abi (the SDK's), pkg-config herald-sdk $abi"
expect_contains "HeraldConfigVersion.cmake" "$(cat "$prefix/lib/cmake/Herald/HeraldConfigVersion.cmake")" \
  "set(PACKAGE_VERSION \"$abi\")"
run_ok "pkg-config" env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion herald-sdk
[ "$RUN_OUT" = "$abi" ] || fail "pkg-config --modversion herald-sdk says '$RUN_OUT', expected $abi"

# ---- 2. the installed herald needs no flags ----------------------------------------------------
step "herald --version"
run_ok "herald --version" herald_clean "$prefix/bin/herald" --version
[ "$RUN_OUT" = "herald $version (driver ABI $abi)" ] || fail "herald --version printed: $RUN_OUT"

# expect_installed_herald_works PREFIX: `herald drivers`, `check` and `publish` with no flags,
# run from an empty directory, use PREFIX's plugins and PREFIX/etc/herald/broadcasting.toml.
expect_installed_herald_works() {
  local p=$1
  run_ok "herald drivers" bash -c "cd '$work/cwd' && env -i PATH=/usr/bin:/bin HERALD_APP_SECRET=s HERALD_JWT_SECRET=jwt-secret-of-at-least-32-bytes-0123 '$p/bin/herald' drivers"
  expect_contains "herald drivers" "$RUN_OUT" "$p/lib/herald/plugins/herald_log.so"
  expect_contains "herald drivers" "$RUN_OUT" "$p/lib/herald/plugins/herald_null.so"
  # The shipped config's secrets come from the environment here (or its env_file).
  run_ok "herald check" bash -c "cd '$work/cwd' && env -i PATH=/usr/bin:/bin HERALD_APP_SECRET=s HERALD_JWT_SECRET=jwt-secret-of-at-least-32-bytes-0123 '$p/bin/herald' check"
  expect_contains "herald check" "$RUN_OUT" "$p/etc/herald/broadcasting.toml: OK"
  run_ok "herald publish" bash -c \
    "cd '$work/cwd' && env -i PATH=/usr/bin:/bin HERALD_APP_SECRET=s HERALD_JWT_SECRET=jwt-secret-of-at-least-32-bytes-0123 '$p/bin/herald' publish -c log order.1 -m hello"
  expect_contains "herald publish" "$RUN_OUT" "Broadcasting on channels [order.1] with payload: hello"
}
step "installed herald: drivers, check, publish with no flags"
expect_installed_herald_works "$prefix"

# ---- 3. the out-of-tree example driver ---------------------------------------------------------
step "build examples/driver-skeleton out of tree against $prefix only"
mkdir -p "$work/skeleton-src"
cp -r "$src/examples/driver-skeleton/." "$work/skeleton-src/"
rm -rf "$work/skeleton-src"/build*
run_ok "skeleton configure" cmake -S "$work/skeleton-src" -B "$work/skeleton-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
herald_dir=$(sed -n 's/^Herald_DIR:PATH=//p' "$work/skeleton-build/CMakeCache.txt")
[ "$herald_dir" = "$prefix/lib/cmake/Herald" ] || fail "the skeleton found Herald in '$herald_dir'"
run_ok "skeleton build" cmake --build "$work/skeleton-build"
leaks=$(grep -rIlF -e "$src/" "$work/skeleton-build" || true)
[ -z "$leaks" ] || fail "the skeleton's build refers to the source tree: $leaks"
skeleton=$work/skeleton-build/herald_skeleton.so
expect_file "$skeleton"
expect_only_abi_exports "$skeleton"

step "drop it into a fresh plugin directory: herald drivers lists it"
fresh=$work/fresh-plugins
mkdir -p "$fresh"
cp "$skeleton" "$fresh/"
run_ok "herald drivers" herald_clean "$prefix/bin/herald" --plugin-dir "$fresh" drivers
row=$(awk '$1 == "skeleton"' <<<"$RUN_OUT")
[ "$(awk '{print $2, $3, $4, $5}' <<<"$row")" = "1.0.0 $abi publish,health $fresh/herald_skeleton.so" ] ||
  fail "unexpected drivers row for skeleton: '$row' in:
$RUN_OUT"

step "configure a connection, herald check, herald publish through it"
mkdir -p "$work/site"
cat >"$work/site/broadcasting.toml" <<TOML
default = "audit"

[connections.audit]
driver = "skeleton"
path = "events.jsonl"
TOML
run_ok "herald check" herald_clean "$prefix/bin/herald" --plugin-dir "$fresh" \
  --config "$work/site/broadcasting.toml" check
run_ok "herald publish" herald_clean "$prefix/bin/herald" --plugin-dir "$fresh" \
  --config "$work/site/broadcasting.toml" publish order.42 -m '{"status":"purchased"}' \
  -m 'say "hi"'
expected='{"topics":["order.42"],"message":"{\"status\":\"purchased\"}"}
{"topics":["order.42"],"message":"say \"hi\""}'
[ "$(cat "$work/site/events.jsonl")" = "$expected" ] ||
  fail "events.jsonl holds: $(cat "$work/site/events.jsonl")"

step "cmake --install the skeleton into $prefix: herald finds it with no flags"
run_ok "skeleton install" cmake --install "$work/skeleton-build" --prefix "$prefix"
expect_file "$prefix/lib/herald/plugins/herald_skeleton.so"
run_ok "herald drivers" herald_clean "$prefix/bin/herald" drivers
expect_contains "herald drivers" "$RUN_OUT" "$prefix/lib/herald/plugins/herald_skeleton.so"

# ---- 4. C drivers: CMake package from a C-only project, pkg-config ------------------------------
cat >"$work/site/c.toml" <<TOML
[connections.c]
driver = "c-hello"
TOML
# expect_c_driver DIR: the c-hello plugin in DIR loads and logs through the host.
expect_c_driver() {
  expect_only_abi_exports "$1/herald_c_hello.so"
  run_ok "herald publish" herald_clean "$prefix/bin/herald" --plugin-dir "$1" \
    --config "$work/site/c.toml" publish -c c order.7 -m hi
  expect_contains "herald publish (stderr)" "$RUN_ERR" "c-hello: order.7 hi"
}
step "a C driver from a C-only CMake project"
cp -r "$here/c_driver" "$work/c-src"
run_ok "C project configure" cmake -S "$work/c-src" -B "$work/c-build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
run_ok "C project build" cmake --build "$work/c-build"
expect_c_driver "$work/c-build"

step "a C driver built with pkg-config --cflags herald-sdk"
mkdir -p "$work/pc-build"
cflags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags herald-sdk)
# shellcheck disable=SC2086 # word splitting of the flags is intended
run_ok "cc" cc -std=c99 -Wall -Wextra -Wpedantic -Werror -shared -fPIC -fvisibility=hidden \
  $cflags -o "$work/pc-build/herald_c_hello.so" "$work/c-src/c_hello.c"
expect_c_driver "$work/pc-build"

step "the C driver embedded in driver.h's comment compiles as printed and runs"
mkdir -p "$work/doc-driver"
# The example is the " *   " lines from its #include to HERALD_DEFINE_DRIVER, prefix removed.
sed -n '/^ \*   #include <herald\/driver.h>/,/^ \*   HERALD_DEFINE_DRIVER/p' \
  "$prefix/include/herald/driver.h" | sed 's/^ \*   \{0,1\}//; s/^ \*$//' >"$work/doc-driver/hello.c"
expect_contains "the embedded example" "$(cat "$work/doc-driver/hello.c")" "HERALD_DEFINE_DRIVER(kHello)"
# shellcheck disable=SC2086 # word splitting of the flags is intended
run_ok "cc (driver.h example)" cc -std=c99 -Wall -Wextra -Wpedantic -Werror -shared -fPIC \
  -fvisibility=hidden $cflags -o "$work/doc-driver/herald_hello.so" "$work/doc-driver/hello.c"
expect_only_abi_exports "$work/doc-driver/herald_hello.so"
printf '[connections.h]\ndriver = "hello"\n' >"$work/site/hello.toml"
run_ok "herald publish (driver.h example)" herald_clean "$prefix/bin/herald" \
  --plugin-dir "$work/doc-driver" --config "$work/site/hello.toml" publish -c h order.9 -m hi
expect_contains "herald publish (stderr)" "$RUN_ERR" "[h] order.9"

step "find_package(Herald 2) is refused by the SDK $abi package"
mkdir -p "$work/wants2"
cat >"$work/wants2/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(wants2 LANGUAGES NONE)
find_package(Herald 2 REQUIRED)
CMAKE
if cmake -S "$work/wants2" -B "$work/wants2/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/wants2/out" 2>&1; then
  fail "find_package(Herald 2) succeeded against SDK $abi"
fi
expect_contains "cmake output" "$(cat "$work/wants2/out")" "$prefix/lib/cmake/Herald/HeraldConfig.cmake, version: $abi"

# ---- the .tar.gz: the same tree, relocatable ---------------------------------------------------
step "cpack -G TGZ: the whole install, unpacked elsewhere, works with no flags"
rm -f "$build"/herald-*.tar.gz
run_ok "cpack -G TGZ" bash -c "cd '$build' && cpack -G TGZ"
archives=("$build"/herald-"$version"-*.tar.gz)
[ ${#archives[@]} -eq 1 ] && [ -f "${archives[0]}" ] || fail "no single herald-$version-*.tar.gz in $build"
mkdir -p "$work/tgz"
tar -xzf "${archives[0]}" -C "$work/tgz"
top=$(find "$work/tgz" -mindepth 1 -maxdepth 1 -type d)
[ "$(wc -l <<<"$top")" -eq 1 ] || fail "the archive has no single top directory"
expect_same_list "files in the archive vs cmake --install" \
  "$(cd "$prefix" && find . -type f ! -name herald_skeleton.so | sort)" \
  "$(cd "$top" && find . -type f | sort)"
file "$top/bin/herald" | grep -q ', stripped' || fail "bin/herald in the archive is not stripped"
expect_installed_herald_works "$top"
echo "OK"
