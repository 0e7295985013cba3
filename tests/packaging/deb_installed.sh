#!/usr/bin/env bash
# The installed-package half of deb_test.sh, run by it inside the throwaway root that
# deb_sandbox.sh makes (never on the host: it installs into /usr and /etc and adds a user).
#   deb_installed.sh WORK_DIR HERALD_DEB HERALD_DEV_DEB VERSION ABI
# WORK_DIR/so_names lists the drivers the package must hold.
source "$(dirname "$0")/common.sh"
work=$1
deb=$2
dev=$3
version=$4
abi=$5
[ "$(id -u)" -eq 0 ] || fail "deb_installed.sh runs as root inside the throwaway root"
SUDO=()
mkdir -p "$work/cwd"

# The throwaway root starts as a copy of the host: a Herald installed there would mix in.
for pkg in herald herald-dev; do
  if dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qv 'not-installed'; then
    fail "the package $pkg is installed on this machine, so the throwaway root has it too"
  fi
done
for path in /etc/herald /usr/lib/herald /usr/bin/herald /lib/systemd/system/herald.service \
  /var/lib/herald /var/log/herald; do
  [ ! -e "$path" ] || fail "$path exists on this machine, so the throwaway root has it too"
done

# ---- 2. installed --------------------------------------------------------------------------------
step "dpkg -i (in the throwaway root)"
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
for so in $(cat "$work/so_names"); do
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
expect_no /etc/herald /var/lib/herald /var/log/herald /usr/share/doc/herald /usr/share/doc/herald-dev
for pkg in herald herald-dev; do
  if dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qv 'not-installed'; then
    fail "$pkg is still known to dpkg after purge"
  fi
done
echo "OK"
