#!/usr/bin/env bash
# The Debian packages, installed for real (needs root; CI runs as root):
#  1. cpack -G DEB: herald_<v>_<arch>.deb and herald-dev_<v>_all.deb with the right contents,
#     conffile, maintainer scripts and shlibdeps-computed dependencies; lintian finds no error.
#  2. dpkg -i: the herald system user, /usr/bin/herald --version, drivers, check and publish
#     with no flags (plugins in /usr/lib/herald/plugins, config /etc/herald/broadcasting.toml),
#     the systemd unit; the example driver builds against herald-dev alone.
#  3. dpkg -r keeps only the conffile, dpkg --purge leaves nothing behind.
# The machine is left as it was, also when a step fails (the packages are purged on exit).
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

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  sudo -n true 2>/dev/null || fail "dpkg -i needs root: run as root or with passwordless sudo"
  SUDO=(sudo -n)
fi

# Never touch a Herald installed by someone else: this test installs and purges its own.
for pkg in herald herald-dev; do
  if dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qv 'not-installed'; then
    fail "the package $pkg is already on this machine; remove it first (dpkg --purge $pkg)"
  fi
done
for path in /etc/herald /usr/lib/herald /usr/bin/herald /lib/systemd/system/herald.service \
  /var/lib/herald /var/log/herald; do
  [ ! -e "$path" ] || fail "$path exists already; this test would overwrite or purge it"
done
# The package keeps its system user on purge, as Debian does; the test removes the one it made.
user_existed=0
getent passwd herald >/dev/null && user_existed=1

installed=0
cleanup() {
  if [ "$installed" -eq 1 ]; then
    echo "==> cleanup: dpkg --purge herald-dev herald"
    "${SUDO[@]}" dpkg --purge herald-dev herald >/dev/null 2>&1 || true
  fi
  if [ "$user_existed" -eq 0 ] && getent passwd herald >/dev/null; then
    "${SUDO[@]}" deluser --quiet --system herald >/dev/null 2>&1 || true
    "${SUDO[@]}" delgroup --quiet --system herald >/dev/null 2>&1 || true
  fi
}
EXIT_HOOKS+=(cleanup)

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

# ---- 2. installed --------------------------------------------------------------------------------
step "dpkg -i"
installed=1
run_ok "dpkg -i" "${SUDO[@]}" dpkg -i "$deb" "$dev"
[ "$(dpkg-query -W -f='${Status}' herald)" = "install ok installed" ] || fail "herald is not installed"

step "the herald system user"
entry=$(getent passwd herald) || fail "no herald user after install"
uid=$(cut -d: -f3 <<<"$entry")
[ "$uid" -lt 1000 ] || fail "the herald user is not a system user: $entry"
case "$(cut -d: -f7 <<<"$entry")" in */nologin | */false) ;; *) fail "the herald user has a login shell: $entry" ;; esac
getent group herald >/dev/null || fail "no herald group"

step "herald --version, drivers, check, publish with no flags"
run_ok "herald --version" herald_clean /usr/bin/herald --version
[ "$RUN_OUT" = "herald $version (driver ABI $abi)" ] || fail "herald --version printed: $RUN_OUT"
run_ok "herald drivers" bash -c "cd '$work/cwd' && env -i PATH=/usr/bin:/bin herald drivers"
printf '%s\n' "$RUN_OUT"
for so in $(so_names "$build/lib/herald/plugins"); do
  expect_contains "herald drivers" "$RUN_OUT" "/usr/lib/herald/plugins/$so"
done
run_ok "herald check" bash -c "cd '$work/cwd' && env -i PATH=/usr/bin:/bin herald check"
expect_contains "herald check" "$RUN_OUT" "/etc/herald/broadcasting.toml: OK"
run_ok "herald publish" bash -c "cd '$work/cwd' && env -i PATH=/usr/bin:/bin herald publish -c log order.1 -m hello"
expect_contains "herald publish" "$RUN_OUT" "Broadcasting on channels [order.1] with payload: hello"
# postinst generated the shipped config's secrets, readable by root and the herald group only.
[ "$(stat -c '%a %U %G' /etc/herald/herald.env)" = "640 root herald" ] ||
  fail "/etc/herald/herald.env: $(stat -c '%a %U %G' /etc/herald/herald.env)"
for var in HERALD_API_KEY HERALD_APP_SECRET HERALD_JWT_SECRET; do
  grep -q "^$var=.\{40,\}" /etc/herald/herald.env || fail "/etc/herald/herald.env has no $var"
done
step "as the herald user"
run_ok "runuser herald check" runuser -u herald -- env -i PATH=/usr/bin:/bin \
  herald --config /etc/herald/broadcasting.toml check
if command -v systemd-analyze >/dev/null; then
  step "systemd-analyze verify herald.service"
  run_ok "systemd-analyze verify" systemd-analyze verify /lib/systemd/system/herald.service
  [ -z "$RUN_ERR" ] || fail "systemd-analyze verify: $RUN_ERR"
fi

step "the example driver builds against herald-dev alone and loads in the installed herald"
mkdir -p "$work/skeleton-src"
cp -r /usr/share/doc/herald-dev/examples/driver-skeleton/. "$work/skeleton-src/"
run_ok "skeleton configure" cmake -S "$work/skeleton-src" -B "$work/skeleton-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
herald_dir=$(sed -n 's/^Herald_DIR:PATH=//p' "$work/skeleton-build/CMakeCache.txt")
[ "$herald_dir" = "/usr/lib/cmake/Herald" ] || fail "the skeleton found Herald in '$herald_dir'"
run_ok "skeleton build" cmake --build "$work/skeleton-build"
mkdir -p "$work/plugins"
cp "$work/skeleton-build/herald_skeleton.so" "$work/plugins/"
run_ok "herald drivers" herald_clean herald --plugin-dir "$work/plugins" drivers
expect_contains "herald drivers" "$RUN_OUT" "$work/plugins/herald_skeleton.so"
cat >"$work/site.toml" <<TOML
[connections.audit]
driver = "skeleton"
path = "events.jsonl"
TOML
run_ok "herald publish" herald_clean herald --plugin-dir "$work/plugins" --config "$work/site.toml" \
  publish -c audit order.9 -m shipped
[ "$(cat "$work/events.jsonl")" = '{"topics":["order.9"],"message":"shipped"}' ] ||
  fail "events.jsonl holds: $(cat "$work/events.jsonl")"

# ---- 3. removed, then purged -------------------------------------------------------------------
step "dpkg -r: everything goes but the conffile"
run_ok "dpkg -r" "${SUDO[@]}" dpkg -r herald-dev herald
expect_no /usr/bin/herald /usr/lib/herald /usr/include/herald /usr/lib/cmake/Herald \
  /usr/lib/pkgconfig/herald-sdk.pc /lib/systemd/system/herald.service
expect_file /etc/herald/broadcasting.toml
[ "$(dpkg-query -W -f='${Status}' herald)" = "deinstall ok config-files" ] ||
  fail "after dpkg -r, herald is '$(dpkg-query -W -f='${Status}' herald)'"

step "dpkg --purge: nothing left"
run_ok "dpkg --purge" "${SUDO[@]}" dpkg --purge herald herald-dev
installed=0
expect_no /etc/herald /var/lib/herald /var/log/herald /usr/share/doc/herald /usr/share/doc/herald-dev
for pkg in herald herald-dev; do
  if dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qv 'not-installed'; then
    fail "$pkg is still known to dpkg after purge"
  fi
done
echo "OK"
