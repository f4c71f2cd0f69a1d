#!/usr/bin/env bash
# Rebuilds the capture fixtures of tests/test_traffic_capture.py with real tools
# (Debian: tshark/wireshark-common for editcap, mergecap; tcpreplay for tcprewrite; tcpdump; iputils-ping;
# iproute2; gzip; curl).
# Part A derives files from the public wikipedia.pcap (see README.md); part B records
# traffic between two network namespaces made here (root needed), so VLAN tags, Linux
# cooked headers, IP fragments and IPv6 extension headers are genuine kernel output.
# (VLAN tags are added with tcprewrite: this kernel has no 802.1Q module.)
set -euo pipefail
cd "$(dirname "$0")"
SRC=${SHARED:-../../../../shared/captures}

# ---- A: derived from wikipedia.pcap -------------------------------------------------
install -m 644 "$SRC/zeek-testing/wikipedia.pcap" "$SRC/zeek-testing/merlinc2_Zeek_example.pcapng" \
  "$SRC/zeek-testing/wikipedia.baseline-conn.field-name-map.log" .
install -m 644 "$SRC/suricata-verify/community-id-ipv4/input.pcap" community-id-ipv4.pcap
VLAN="--enet-vlan=add --enet-vlan-cfi=0 --enet-vlan-pri=0"
tcprewrite $VLAN --enet-vlan-tag=100 -i wikipedia.pcap -o wikipedia-vlan.pcap  # 802.1Q
tcprewrite $VLAN --enet-vlan-tag=200 --enet-vlan-proto=802.1ad \
  -i wikipedia-vlan.pcap -o wikipedia-qinq.pcap                                 # + 802.1ad
editcap -F pcap -C 14 -T rawip wikipedia.pcap wikipedia-rawip.pcap  # Ethernet header chopped
editcap -F pcap -T ieee-802-11 wikipedia.pcap wikipedia-unknown-link.pcap  # relabelled: 105
editcap -F pcap -r wikipedia-unknown-link.pcap unknown-head.pcap 1-5
mergecap -F pcapng -w mixed-unknown.pcapng wikipedia.pcap unknown-head.pcap && rm unknown-head.pcap
editcap -F pcap -s 64 wikipedia.pcap wikipedia-snap64.pcap                # snaplen cut
editcap -F pcapng wikipedia.pcap wikipedia.pcapng
gzip -9nc wikipedia.pcap > wikipedia.pcap.gz
gzip -9nc wikipedia.pcapng > wikipedia-pcapng.bin                 # gzip, no telling name
size=$(stat -c %s wikipedia.pcap)
head -c $((size - 100)) wikipedia.pcap > wikipedia-truncated.pcap  # last record cut
head -c 30 wikipedia.pcap > wikipedia-header-cut.pcap             # inside the 1st record
head -c 20 wikipedia.pcap > wikipedia-header-only.pcap            # inside the file header
size=$(stat -c %s wikipedia.pcapng)
head -c $((size - 50)) wikipedia.pcapng > wikipedia-truncated.pcapng
head -c 4000 wikipedia.pcap.gz > wikipedia-truncated.pcap.gz
rm -rf rotated && mkdir rotated
editcap -F pcap -c 40 wikipedia.pcap rotated/x.pcap
# rename so that name order is not time order: the reader must sort by first packet
i=0; for f in $(ls rotated/x_* | sort); do
  mv "$f" "rotated/$(printf '%s' zyxw | cut -c$((i+1)))-part.pcap"; i=$((i+1)); done
gzip -9n rotated/x-part.pcap && mv rotated/x-part.pcap.gz rotated/x-part.pcap
echo "rotated by editcap -c 40" > rotated/NOTES.txt
python3 - <<'PY'
# Damage chosen blocks of the tool-made pcapng (offsets found by walking its blocks).
import struct
data = bytearray(open("wikipedia.pcapng", "rb").read())
blocks, pos = [], 0
while pos + 8 <= len(data):
    btype, blen = struct.unpack_from("<II", data, pos)
    blocks.append((pos, btype, blen))
    pos += blen
epbs = [b for b in blocks if b[1] == 6]
a = bytearray(data)  # trailing length of the 50th packet block wrong: skip that block
pos, _, blen = epbs[49]
struct.pack_into("<I", a, pos + blen - 4, blen + 4)
open("wikipedia-corrupt-block.pcapng", "wb").write(a)
b = bytearray(data)  # length field of the 100th packet block absurd: stop there
pos, _, blen = epbs[99]
struct.pack_into("<I", b, pos + 4, 0x7FFFFFF1)
open("wikipedia-corrupt-length.pcapng", "wb").write(b)
# No tool writes Simple Packet Blocks or obsolete Packet Blocks: rewrite the first 20
# Enhanced Packet Blocks of the tool-made file as SPBs (no interface, no timestamp) and
# the next 20 as PBs, keeping their packet bytes; the rest stay EPBs.
out = bytearray()
for i, (pos, btype, blen) in enumerate(blocks):
    body = data[pos:pos + blen]
    if btype == 6 and i - 2 < 40:
        _iface, tsh, tsl, caplen, wire = struct.unpack_from("<IIIII", body, 8)
        pkt = bytes(body[28:28 + caplen])
        pad = b"\0" * (-len(pkt) % 4)
        if i - 2 < 20:
            new = struct.pack("<III", 3, 16 + len(pkt) + len(pad), wire) + pkt + pad
        else:
            new = struct.pack("<IIHHIIII", 2, 32 + len(pkt) + len(pad), 0, 0, tsh, tsl,
                              caplen, wire) + pkt + pad
        new += struct.pack("<I", len(new) + 4)
        body = new
    out += body
open("wikipedia-spb-pb.pcapng", "wb").write(out)
# Big-endian pcap: the same records with every header field byte-swapped.
raw = open("wikipedia.pcap", "rb").read()
be = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", raw, 0)))
pos = 24
while pos + 16 <= len(raw):
    rec = struct.unpack_from("<IIII", raw, pos)
    be += struct.pack(">IIII", *rec) + raw[pos + 16:pos + 16 + rec[2]]
    pos += 16 + rec[2]
open("wikipedia-bigendian.pcap", "wb").write(be)
PY

# ---- B: live traffic between two namespaces ----------------------------------------
A=spyfxa; B=spyfxb
cleanup() { for p in ${PIDS:-}; do kill "$p" 2>/dev/null || true; done
            ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
cleanup; PIDS=""
ip netns add $A; ip netns add $B
ip link add vA netns $A type veth peer name vB netns $B
for ns in $A $B; do ip -n $ns link set lo up; done
ip -n $A addr add 10.99.0.1/24 dev vA; ip -n $B addr add 10.99.0.2/24 dev vB
ip -n $A -6 addr add fd00:99::1/64 dev vA nodad; ip -n $B -6 addr add fd00:99::2/64 dev vB nodad
ip -n $A link set vA up; ip -n $B link set vB up
sleep 1
traffic() {  # UDP, TCP, ICMP echo, IPv4 and IPv6 fragments, over the given address
  local dst=$1
  ip netns exec $A bash -c "echo hello-udp > /dev/udp/$dst/5000" || true
  ip netns exec $A ping -c 2 -i 0.2 -W 1 "$dst" >/dev/null || true
  ip netns exec $A curl -s -m 3 "http://$dst:8080/" >/dev/null || true
}
ip netns exec $B python3 -m http.server 8080 --bind :: >/dev/null 2>&1 & PIDS="$PIDS $!"
sleep 1
ip netns exec $B tcpdump -n -i vB -w live.pcap -U 2>/dev/null & PIDS="$PIDS $!"
sleep 1
traffic 10.99.0.2
ip netns exec $A ping -c 1 -s 3000 -W 1 10.99.0.2 >/dev/null || true        # IPv4 fragments
ip netns exec $A ping -6 -c 1 -s 3000 -W 1 fd00:99::2 >/dev/null || true   # IPv6 fragment hdr
ip netns exec $A curl -s -m 3 "http://[fd00:99::2]:8080/" >/dev/null || true
ip -n $A link set vA down; ip -n $A link set vA up                          # MLD (hop-by-hop)
sleep 2
sleep 2; kill "${PIDS##* }"; wait "${PIDS##* }" 2>/dev/null || true; PIDS="${PIDS% *}"
# Linux cooked captures (v1 and v2) and a nanosecond pcap of the same untagged traffic
ip netns exec $B tcpdump -n -i any -y LINUX_SLL -w sll.pcap -U 2>/dev/null & P1=$!
ip netns exec $B tcpdump -n -i any -y LINUX_SLL2 -w sll2.pcap -U 2>/dev/null & P2=$!
ip netns exec $B tcpdump -n -i vB --time-stamp-precision=nano -w nano.pcap -U 2>/dev/null & P3=$!
PIDS="$PIDS $P1 $P2 $P3"; sleep 1
traffic 10.99.0.2
sleep 2; kill $P1 $P2 $P3; wait $P1 $P2 $P3 2>/dev/null || true
# one pcapng with four interfaces: Linux SLL, SLL2, Ethernet (ns resolution), raw IP
mergecap -F pcapng -w multi.pcapng sll.pcap sll2.pcap nano.pcap wikipedia-rawip.pcap
chown "$(id -u):$(id -g)" ./*.pcap*; chmod 644 ./*.pcap* ./*.bin rotated/*; rm -f nano.pcap
