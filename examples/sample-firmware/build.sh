#!/bin/sh
# Build the spyproof demo firmware: a MIPS router image in the common OpenWrt/ramips layout,
#   U-Boot legacy uImage (kernel) | 0xFF padding to 64 KiB | squashfs (xz) root filesystem.
# The root filesystem is rootfs/ beside this script: real Debian 12 mipsel binaries
# (see ../README.md for their packages and licences) and the configuration of a fictional
# "Acme CPE-5G" device. The kernel part is a placeholder blob: no kernel is shipped.
# The build is reproducible: SOURCE_DATE_EPOCH fixes every timestamp.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTPUT.bin}
rootfs=${ROOTFS:-$here/rootfs}  # another root filesystem (tests build variants)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
export SOURCE_DATE_EPOCH

python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(5).randbytes(1536 * 1024))' > "$tmp/kernel"
gzip -n -9 -c "$tmp/kernel" > "$tmp/kernel.gz"
mkimage -A mips -O linux -T kernel -C gzip -a 0x80000000 -e 0x80000000 \
    -n "Linux-5.15.150 placeholder" -d "$tmp/kernel.gz" "$tmp/uImage" >/dev/null

# -e takes every argument after it as an exclude: it must come last, or it swallows the -p
# definitions (modes of secret files and the setuid bit are set here, not taken from the
# checkout: git records only 644/755)
mksquashfs "$rootfs" "$tmp/rootfs.sqfs" -comp xz -b 256K -all-root -noappend -quiet \
    -no-progress \
    -p 'etc/shadow m 600 0 0' \
    -p 'etc/dropbear/server.key m 600 0 0' \
    -p 'dev/console c 600 0 0 5 1' \
    -p 'dev/ttyS0 c 660 0 0 4 64' \
    -p 'usr/sbin/dropbear m 4755 0 0' \
    -wildcards -e '... .keep' >/dev/null

size=$(stat -c %s "$tmp/uImage")
pad=$(( (65536 - size % 65536) % 65536 ))
{
    cat "$tmp/uImage"
    head -c "$pad" /dev/zero | tr '\000' '\377'
    cat "$tmp/rootfs.sqfs"
} > "$out"
echo "$out"
