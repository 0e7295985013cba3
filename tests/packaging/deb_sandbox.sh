#!/usr/bin/env bash
# Runs a command as root in a throwaway root: a copy-on-write overlay of / whose upper layer is a
# tmpfs, with /proc, /sys and /dev bound in and WORK_DIR bound at the same path (so its files
# outlive the run), then chroot. Must itself run in a private mount namespace
# (`unshare -m --propagation private`, as deb_test.sh does): every mount, and with them every
# write the command makes outside WORK_DIR, disappears when the namespace ends, however it ends.
#   unshare -m --propagation private deb_sandbox.sh WORK_DIR COMMAND...
set -euo pipefail
work=$1
shift
sandbox=$work/sandbox
mkdir -p "$sandbox"
mount -t tmpfs -o mode=0755 herald-sandbox "$sandbox"
mkdir -p "$sandbox/upper" "$sandbox/scratch" "$sandbox/root"
mount -t overlay herald-root \
  -o "lowerdir=/,upperdir=$sandbox/upper,workdir=$sandbox/scratch" "$sandbox/root"
root=$sandbox/root
for fs in /proc /sys /dev; do
  mount --rbind "$fs" "$root$fs"
  mount --make-rslave "$root$fs"
done
mount -t tmpfs -o mode=0755 herald-run "$root/run"
mount -t tmpfs -o mode=1777 herald-tmp "$root/tmp"
mkdir -p "$root$work"
mount --bind "$work" "$root$work"
exec chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LC_ALL=C TMPDIR=/tmp "$@"
