# Helpers for the packaging tests (sourced). Every step prints "==> what", every failure one
# "FAIL: why" line followed by the evidence, so the CTest output reads as a log.
set -euo pipefail
export LC_ALL=C

step() { echo "==> $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_file PATH...: each PATH is a regular file.
expect_file() {
  local f
  for f in "$@"; do [ -f "$f" ] || fail "missing file $f"; done
}

# expect_no PATH...: none of the paths exists.
expect_no() {
  local f
  for f in "$@"; do [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f should not exist"; done
}

# expect_same_list WHAT EXPECTED ACTUAL: two newline-separated lists are equal.
expect_same_list() {
  if [ "$2" != "$3" ]; then
    echo "expected:" >&2
    printf '%s\n' "$2" | sed 's/^/  /' >&2
    echo "actual:" >&2
    printf '%s\n' "$3" | sed 's/^/  /' >&2
    fail "$1 differ"
  fi
}

# expect_contains WHAT TEXT NEEDLE: TEXT contains NEEDLE (a fixed string).
expect_contains() {
  if ! grep -qF -- "$3" <<<"$2"; then
    echo "--- $1 ---" >&2
    printf '%s\n' "$2" >&2
    echo "---" >&2
    fail "$1 does not contain: $3"
  fi
}

# run_ok WHAT COMMAND...: runs COMMAND, shows its output, fails unless it exits 0. The output
# is left in $RUN_OUT (stdout) and $RUN_ERR (stderr).
run_ok() {
  local what=$1
  shift
  local out err rc=0
  out=$(mktemp) err=$(mktemp)
  "$@" >"$out" 2>"$err" || rc=$?
  RUN_OUT=$(cat "$out")
  RUN_ERR=$(cat "$err")
  rm -f "$out" "$err"
  if [ "$rc" -ne 0 ]; then
    echo "\$ $*" >&2
    printf '%s\n' "$RUN_OUT" >&2
    printf '%s\n' "$RUN_ERR" >&2
    fail "$what exited with $rc"
  fi
}

# herald_clean ARGS...: runs a herald binary the way a user's shell would, without anything
# of this test's environment that herald reads (HERALD_*, BROADCAST_*), with the two secrets
# the shipped config reads (a user sets them, or the env_file the .deb generates holds them).
herald_clean() {
  env -i PATH=/usr/bin:/bin HOME="${HOME:-/root}" HERALD_APP_SECRET=s HERALD_JWT_SECRET=jwt-secret-of-at-least-32-bytes-0123 "$@"
}

# The names (not paths) of the *.so files in a directory, sorted, one per line.
so_names() {
  find "$1" -maxdepth 1 -name '*.so' -printf '%f\n' | sort
}

# expect_abi_exports SO: the plugin exports the two ABI entry points.
expect_abi_exports() {
  local exports
  exports=$(nm -D --defined-only "$1" | awk '{print $NF}')
  grep -qx herald_driver_abi_version <<<"$exports" || fail "$1 does not export herald_driver_abi_version"
  grep -qx herald_driver_get_descriptor <<<"$exports" ||
    fail "$1 does not export herald_driver_get_descriptor"
}

# expect_only_abi_exports SO: the plugin exports the two ABI entry points and none of its own
# code (hidden visibility). What the C++ library and Boost deliberately keep visible (weak
# template instantiations, type info of std:: and boost:: types) may show up too.
expect_only_abi_exports() {
  expect_abi_exports "$1"
  local own
  own=$(nm -D --defined-only "$1" | awk '$2 != "W" && $2 != "V" && $2 != "u" {print $NF}' |
    grep -vx -e herald_driver_abi_version -e herald_driver_get_descriptor || true)
  [ -z "$own" ] || fail "$1 exports more than the ABI entry points: $own"
}

# Functions to run when the script ends, however it ends (EXIT_HOOKS+=(name)).
EXIT_HOOKS=()
WORK=
run_exit_hooks() {
  local rc=$? hook
  for hook in "${EXIT_HOOKS[@]}"; do "$hook" || true; done
  if [ -n "$WORK" ]; then
    if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else echo "(work files kept in $WORK)" >&2; fi
  fi
  exit "$rc"
}
trap run_exit_hooks EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# make_work_dir NAME: a fresh directory under $TMPDIR (outside the source and build trees, so a
# stray path into them shows), canonical (herald prints canonical paths); in $WORK. Removed
# when the script succeeds, kept for a look when it fails.
make_work_dir() {
  WORK=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/herald-$1-XXXXXX")")
}

# depends_has DEPENDS PACKAGE: the Depends field lists PACKAGE (with any version constraint).
depends_has() {
  tr ',|' '\n' <<<"$1" | awk -v p="$2" '$1 == p {found = 1} END {exit !found}'
}
