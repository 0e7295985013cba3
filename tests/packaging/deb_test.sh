#!/usr/bin/env bash
# The Debian packages, checked without changing the machine:
#  1. cpack -G DEB: herald_<v>_<arch>.deb and herald-dev_<v>_all.deb with the right contents,
#     conffile, maintainer scripts and shlibdeps-computed dependencies; lintian finds no error.
#  2. In a throwaway root (deb_sandbox.sh: a private mount namespace, a copy-on-write overlay of /
#     on a tmpfs, chroot), deb_installed.sh installs them for real: dpkg -i, the herald system
#     user, /usr/bin/herald --version, drivers, check and publish with no flags, the systemd
#     unit, the example driver against herald-dev alone; dpkg -r keeps only the conffile,
#     dpkg --purge leaves nothing behind. Every write of dpkg, adduser and the maintainer scripts
#     lands in the tmpfs, which goes away with the namespace: the host's dpkg database, /etc,
#     /usr and users are never touched, also when a step fails or the test is killed.
# Part 2 needs root (or passwordless sudo) and unshare; without them it is skipped (exit 77,
# which CTest reports as skipped) after part 1 passed.
#   deb_test.sh SOURCE_DIR RELEASE_BUILD_DIR
source "$(dirname "$0")/common.sh"
src=$(realpath "$1")
build=$(realpath "$2")
make_work_dir deb
work=$WORK
mkdir -p "$work/cwd"

version=$(sed -n 's/^project(Herald VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
abi_major=$(sed -n 's/^#define HERALD_ABI_MAJOR \([0-9]*\)$/\1/p' "$src/sdk/include/herald/driver.h")
abi_minor=$(sed -n 's/^#define HERALD_ABI_MINOR \([0-9]*\)$/\1/p' "$src/sdk/include/herald/driver.h")
abi=$abi_major.$abi_minor
arch=$(dpkg --print-architecture)

# ---- 1. the packages ---------------------------------------------------------------------------
step "cpack -G DEB"
rm -f "$build"/*.deb
run_ok "cpack -G DEB" bash -c "cd '$build' && cpack -G DEB"
deb=$build/herald_${version}_${arch}.deb
dev=$build/herald-dev_${version}_all.deb
expect_file "$deb" "$dev"

step "herald: control fields"
run_ok "dpkg-deb -f" dpkg-deb -f "$deb"
control=$RUN_OUT
printf '%s\n' "$control"
expect_contains "control" "$control" "Package: herald"
expect_contains "control" "$control" "Version: $version"
expect_contains "control" "$control" "Architecture: $arch"
expect_contains "control" "$control" "Section: net"
expect_contains "control" "$control" "Description: Real-time event broadcasting host with driver plugins"
depends=$(sed -n 's/^Depends: //p' <<<"$control")
# dpkg-shlibdeps found the libraries the binary and the plugins link (not a hand-kept list).
for pkg in adduser libc6 libstdc++6 libboost-program-options1.81.0; do
  depends_has "$depends" "$pkg" || fail "Depends lacks $pkg: $depends"
done
# Each library the binary or a plugin links must be covered by a dependency: the package that
# owns it, or a virtual package that one provides (libspdlog1.10-fmt9). One dpkg -S for all.
needed=$(for f in "$build/bin/herald" "$build"/lib/herald/plugins/*.so; do
  objdump -p "$f" | awk '$1 == "NEEDED" {print $2}'
done | sort -u)
# (awk reads everything: an early exit would kill ldconfig with SIGPIPE, a failure here)
ldcache=$(ldconfig -p)
declare -A lib_path
candidates=()
for lib in $needed; do
  path=$(awk -v l="$lib" '$1 == l && !done {print $NF; done = 1}' <<<"$ldcache")
  [ -n "$path" ] || fail "cannot find $lib, which the build links"
  lib_path[$lib]=$path
  # usrmerge: dpkg may know the file as /lib/... or /usr/lib/...
  candidates+=("$path" "$(realpath "$path")" "/usr$path")
done
owners=$(dpkg -S "${candidates[@]}" 2>/dev/null || true)
for lib in $needed; do
  path=${lib_path[$lib]}
  owner=$(awk -F': ' -v a="$path" -v b="$(realpath "$path")" -v c="/usr$path" \
    '($2 == a || $2 == b || $2 == c) && !done {sub(/:.*/, "", $1); print $1; done = 1}' <<<"$owners")
  [ -n "$owner" ] || fail "no package owns $path"
  provides=$(dpkg-query -W -f='${Provides}' "$owner" | tr ',' '\n' | awk '{print $1}')
  found=0
  for candidate in $owner $provides; do
    if depends_has "$depends" "$candidate"; then found=1; fi
  done
  [ "$found" -eq 1 ] || fail "Depends lacks $owner (for $lib): $depends"
done

step "herald: files, conffile, maintainer scripts, systemd unit"
run_ok "dpkg-deb -c" dpkg-deb -c "$deb"
files=$(awk '{print $6}' <<<"$RUN_OUT" | sed 's|^\./|/|')
for f in /usr/bin/herald /etc/herald/broadcasting.toml /lib/systemd/system/herald.service \
  /usr/share/doc/herald/copyright /usr/share/doc/herald/changelog.gz \
  /usr/share/doc/herald/README.md /usr/share/doc/herald/CHANGELOG.md \
  /usr/share/man/man1/herald.1.gz; do
  grep -qxF "$f" <<<"$files" || fail "$deb lacks $f"
done
for so in $(so_names "$build/lib/herald/plugins"); do
  grep -qxF "/usr/lib/herald/plugins/$so" <<<"$files" || fail "$deb lacks /usr/lib/herald/plugins/$so"
done
! grep -q '^/usr/include\|^/usr/lib/cmake\|fixture' <<<"$files" || fail "$deb holds SDK or test files"
mkdir -p "$work/control"
dpkg-deb -e "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = "/etc/herald/broadcasting.toml" ] ||
  fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no executable $script in $deb"
  sh -n "$work/control/$script" || fail "$script is not valid sh"
done
mkdir -p "$work/data"
dpkg-deb -x "$deb" "$work/data"
unit=$(cat "$work/data/lib/systemd/system/herald.service")
for key in "User=herald" "ExecStart=/usr/bin/herald --config /etc/herald/broadcasting.toml serve" \
  "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
  "CapabilityBoundingSet=" "WantedBy=multi-user.target"; do
  grep -qxF "$key" <<<"$unit" || fail "herald.service lacks the line $key"
done

step "herald-dev: the SDK"
run_ok "dpkg-deb -f" dpkg-deb -f "$dev"
expect_contains "control" "$RUN_OUT" "Package: herald-dev"
expect_contains "control" "$RUN_OUT" "Architecture: all"
run_ok "dpkg-deb -c" dpkg-deb -c "$dev"
dev_files=$(awk '{print $6}' <<<"$RUN_OUT" | sed 's|^\./|/|')
for f in /usr/include/herald/driver.h /usr/include/herald/driver.hpp /usr/include/herald/version.h \
  /usr/lib/cmake/Herald/HeraldConfig.cmake /usr/lib/cmake/Herald/HeraldConfigVersion.cmake \
  /usr/lib/cmake/Herald/HeraldTargets.cmake /usr/lib/cmake/Herald/HeraldAddDriver.cmake \
  /usr/lib/pkgconfig/herald-sdk.pc /usr/share/doc/herald-dev/copyright \
  /usr/share/doc/herald-dev/changelog.gz /usr/share/doc/herald-dev/sdk.md \
  /usr/share/doc/herald-dev/examples/driver-skeleton/CMakeLists.txt; do
  grep -qxF "$f" <<<"$dev_files" || fail "$dev lacks $f"
done

step "lintian: no error-level finding"
lintian_out=$(lintian --allow-root --tag-display-limit 0 "$deb" "$dev" 2>&1) || true
printf '%s\n' "$lintian_out"
if grep -q '^E: ' <<<"$lintian_out"; then
  fail "lintian reports errors (the E: lines above)"
fi

# ---- 2. and 3. installed, removed and purged, in a throwaway root ------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "SKIPPED: installing the packages in a throwaway root needs root or passwordless sudo"
    exit 77
  fi
  SUDO=(sudo -n)
fi
if ! "${SUDO[@]}" unshare -m --propagation private true 2>/dev/null; then
  echo "SKIPPED: cannot create a private mount namespace (unshare -m) for the throwaway root"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/common.sh" "$here/deb_installed.sh" "$deb" "$dev" "$work/"
so_names "$build/lib/herald/plugins" >"$work/so_names"
step "throwaway root: overlay of / in a private mount namespace"
"${SUDO[@]}" unshare -m --propagation private bash "$here/deb_sandbox.sh" "$work" \
  bash "$work/deb_installed.sh" "$work" "$work/$(basename "$deb")" "$work/$(basename "$dev")" \
  "$version" "$abi"
echo "OK (checked, then installed, removed and purged in a throwaway root)"
