#!/usr/bin/env bash
# fresh-root.sh - the README's set-up commands, exactly as the README writes
# them and in its order, in one clean clone, on a Debian 12 root made by
# debootstrap a moment ago: a new user's machine, with nothing this machine
# installed by hand.  A green CI on a development machine can hide a missing
# install step; this stage cannot.  Then, in a second clean clone, the
# README's "Building by hand" line and `make distcheck`, as a user would.
#
# What it copies in from this machine: its Debian package sources (only
# those signed by Debian's own keyring) and apt's network settings, the
# local certificate authorities, the npm settings and the resolver.  Nothing
# else.  The minbase root is cached as a tarball (and the downloaded .deb
# and npm packages beside it) for the next run on the same machine.
#
#   bash .ci/fresh-root.sh          run the stage (as root)
#   AOD_FRESH_CACHE=DIR             where the cache lives (default below)
#   AOD_FRESH_KEEP=1                keep the root afterwards, for a look
#
# The chroot runs in a mount and PID namespace of its own: whatever happens,
# its mounts (/proc, /sys, /dev) and its processes (the quick start's
# PostgreSQL server) end with it; the mounts are also unmounted explicitly.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
SUITE=bookworm
CACHE=${AOD_FRESH_CACHE:-/var/cache/aodreport-ci}
say() { printf 'fresh-root: %s\n' "$*"; }
die() {
    printf 'fresh-root: FAIL: %s\n' "$*" >&2
    echo "fresh-root: 0 passed, 1 failed"
    exit 1
}

# --------------------------------------------------------------- inside
# Runs as PID 1 of a new PID namespace, in a private mount namespace.
if [ "${1:-}" = --inside ]; then
    root=$2
    log=$3
    shift 3
    unmount_all() {
        local m
        for m in dev sys proc; do
            mountpoint -q "$root/$m" && umount -R "$root/$m" 2>/dev/null || umount -lR "$root/$m" 2>/dev/null || true
        done
        for m in var/cache/apt/archives root/.npm; do
            mountpoint -q "$root/$m" && umount "$root/$m" || true
        done
    }
    trap unmount_all EXIT
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"
    mkdir -p "$CACHE/archives/partial" "$CACHE/npm"
    mount --bind "$CACHE/archives" "$root/var/cache/apt/archives"
    mount --bind "$CACHE/npm" "$root/root/.npm"
    envs=(HOME=/root LANG=C.UTF-8 TERM=dumb CI=true
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && envs+=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
    script=$1
    status=0
    chroot "$root" /usr/bin/env -i "${envs[@]}" /bin/bash -c "$script" </dev/null >"$log" 2>&1 ||
        status=$?
    # Stop the quick start's server cleanly before the namespace ends it.
    chroot "$root" /usr/bin/env -i "${envs[@]}" /bin/bash -c \
        'cd /root/aodreport && bash examples/quickstart.sh stop' </dev/null >/dev/null 2>&1 || true
    exit $status
fi

# -------------------------------------------------------------- outside
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The README's set-up commands: the indented "bash ..." lines of its
# "Set up on a fresh Debian 12 machine" section, in order.
mapfile -t commands < <(awk '/^Set up on a fresh Debian 12 machine/ { on = 1; next }
    on && /^[A-Z][A-Za-z ]+$/ && !/^Set up/ { on = 0 }
    on && /^ +bash [^ ]+( [^ ]+)*$/ { sub(/^ +/, ""); print }' "$top/README")
[ ${#commands[@]} = 2 ] || die "expected the README's two set-up commands, found ${#commands[@]}: ${commands[*]:-none}"
say "the README's commands: ${commands[0]}; ${commands[1]}"

# And its "Building by hand" line, run afterwards in a second clean clone,
# followed by the make distcheck the README promises works the same way.
byhand=$(awk '/^Building by hand/ { on = 1; next } on && /^ +autoreconf / { sub(/^ +/, ""); print; exit }' "$top/README")
[ -n "$byhand" ] || die "the README's \"Building by hand\" line was not found"
script="set -e; cd /root/aodreport"
for c in "${commands[@]}"; do
    script="$script; echo '+ $c'; $c"
done
script="$script; cd /root/by-hand; echo '+ $byhand'; $byhand; echo '+ make distcheck'; make distcheck"

# The machine's Debian mirror (the first one its sources name).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -m1 'debian/\?$' || true)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"

mkdir -p "$CACHE"
chmod 700 "$CACHE"
tarball=$CACHE/$SUITE-minbase.tar
if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime +14)" ]; then
    say "using the cached $SUITE root ($(du -h "$tarball" | cut -f1))"
else
    say "debootstrap $SUITE (minbase) from $mirror"
    build=$(mktemp -d /var/tmp/aod-debootstrap.XXXXXX)
    debootstrap --variant=minbase "$SUITE" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1 ||
        { tail -n 30 "$build/debootstrap.log" >&2; rm -rf --one-file-system "$build"; die "debootstrap failed"; }
    tar -C "$build/root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$build"
fi
t1=$(date +%s)

root=$(mktemp -d /var/tmp/aod-fresh-root.XXXXXX)
log=$(mktemp /var/tmp/aod-fresh-log.XXXXXX)
cleanup() {
    # Never remove a tree with anything still mounted below it.
    if findmnt -rn -o TARGET | grep -q "^$root/"; then
        echo "fresh-root: mounts remain below $root; not removing it" >&2
        return
    fi
    [ -n "${AOD_FRESH_KEEP:-}" ] && { say "kept $root"; return; }
    rm -rf --one-file-system "$root"
}
trap 'cleanup; rm -f "$log"' EXIT
tar -C "$root" --numeric-owner -xpf "$tarball"

# What a new machine on this network needs to reach the package registries.
copy_in() { [ -e "$1" ] && mkdir -p "$root$(dirname "$1")" && cp -L "$1" "$root$1"; return 0; }
: >"$root/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Debian's own sources only: a third-party one would need its keyring.
    if grep -i 'signed-by' "$f" | grep -qv 'debian-archive-keyring'; then continue; fi
    copy_in "$f"
done
for f in /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] || continue
    grep -q '^Acquire::' "$f" && ! grep -q 'Invoke' "$f" && copy_in "$f"
done
for f in /usr/local/share/ca-certificates/*.crt /etc/resolv.conf /etc/hosts /etc/npmrc /usr/etc/npmrc /root/.npmrc; do
    copy_in "$f"
done
mkdir -p "$root/root/.npm"

git clone -q "$top" "$root/root/aodreport"
git clone -q "$top" "$root/root/by-hand"
say "root ready in $((t1 - t0)) s (cached tarball) + $(($(date +%s) - t1)) s (unpack, clone)"

t2=$(date +%s)
status=0
AOD_FRESH_CACHE=$CACHE unshare --mount --propagation private --pid --fork \
    bash "$0" --inside "$root" "$log" "$script" || status=$?
t3=$(date +%s)
say "the README's commands took $((t3 - t2)) s (exit $status)"

# ---------------------------------------------------------------- checks
passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
    fi
}
quietly() { "$@" >/dev/null 2>&1; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"; }

check "the README's commands (set-up, building by hand, distcheck) exit 0" test "$status" = 0
check "make distcheck made the release tarball" \
    bash -c 'grep -q "archives ready for distribution" "$1"' _ "$log"
if [ "$status" != 0 ]; then
    echo "# the last 60 lines they printed:"
    tail -n 60 "$log" | sed 's/^/#   /'
fi

# Every file the quick start promises, non-empty and well formed.
out=$root/root/aodreport/out
promised=()
for mode in disclosures access; do
    promised+=("example-1-$mode.csv" "example-1-$mode.pdf" "example-1-$mode.json" "example-1-$mode.xml")
done
promised+=(example-1-disclosures-privacy-office.csv example-1-explain.csv)
for f in "${promised[@]}"; do
    check "out/$f written" test -s "$out/$f"
    [ -s "$out/$f" ] || continue
    case "$f" in
    *.pdf) check "out/$f passes qpdf --check" quietly in_root qpdf --check "/root/aodreport/out/$f" ;;
    *.json) check "out/$f is JSON" quietly in_root python3 -m json.tool "/root/aodreport/out/$f" ;;
    *.xml) check "out/$f is well-formed XML" quietly in_root xmllint --noout "/root/aodreport/out/$f" ;;
    esac
done

# The test command's own summary: tests ran, none failed, none skipped.
summary=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
echo "# ci.sh said: ${summary:-nothing}"
check "the tests ran and none failed" \
    awk '{ exit !($2 > 0 && $4 == 0) }' <<<"${summary:-tests: 0 passed, 1 failed}"
checkout=$root/root/aodreport/build/ci/check.out
check "make check skipped nothing" grep -Eq '^# SKIP: +0$' "$checkout"
check "make check had no errors" grep -Eq '^# ERROR: +0$' "$checkout"
check "no test log mentions a skip" \
    bash -c '[ -d "$1"/tests ] && ! grep -rlE "^ok .*# (skip|SKIP)|\[  SKIPPED \]|: skipped|format check skipped" "$1"/tests --include="*.log"' _ \
    "$root/root/aodreport/build/ci"
check "no npm engine mismatch" bash -c '! grep -q "EBADENGINE" "$1"' _ "$log"
check "no 'Permission denied' noise" bash -c '! grep -q "Permission denied" "$1"' _ "$log"
check "no archiver warnings in the build" \
    bash -c '[ -f "$1" ] && ! grep -q "modifier ignored" "$1"' _ "$root/root/aodreport/build/ci/make.out"

echo "fresh-root: $passed passed, $failed failed (stage took $(($(date +%s) - t0)) s)"
[ "$failed" = 0 ]
