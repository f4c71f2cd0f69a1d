#!/usr/bin/env bash
# Rebuild the loopback captures in this folder with real clients and servers (run as root;
# traffic stays on 127.0.0.0/8). Needs Debian's tcpdump, openssl, dnsmasq-base,
# bind9-dnsutils and curl, and a scratch venv with aioquic and dnslib from PyPI:
#   python3 -m venv /tmp/gen && /tmp/gen/bin/pip install aioquic==1.7.2 dnslib
#   GEN_PY=/tmp/gen/bin/python bash make_fixtures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${GEN_PY:-python3}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

capture() {  # capture FILE FILTER: start tcpdump on lo, remember its pid in $cap
  tcpdump -i lo -U -s 0 -w "$1" "$2" 2>/dev/null &
  cap=$!
  sleep 1
}
stop_capture() { sleep 1; kill "$cap"; wait "$cap" 2>/dev/null || true; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj /CN=example.test -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# --- TLS over TCP: openssl s_client against s_server, plus a ClientHello in 3 segments --
openssl s_server -quiet -accept 127.0.0.1:4433 -cert "$work/cert.pem" -key "$work/key.pem" \
  -alpn h2 >/dev/null 2>&1 &
pids+=($!)
openssl s_server -quiet -accept 127.0.0.1:853 -cert "$work/cert.pem" -key "$work/key.pem" \
  >/dev/null 2>&1 &
pids+=($!)
sleep 1
capture "$here/tls-loopback.pcap" "tcp and (port 4433 or port 853)"
openssl s_client -connect 127.0.0.1:4433 -servername tls13.example.test \
  -alpn h2,http/1.1 </dev/null >/dev/null 2>&1 || true
openssl s_client -connect 127.0.0.1:4433 -tls1_2 -noservername </dev/null >/dev/null 2>&1 || true
"$py" - <<'EOF'
import socket, ssl, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="split.example.test")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = out.read()
s = socket.create_connection(("127.0.0.1", 4433))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for part in (hello[:3], hello[3:150], hello[150:]):  # record header itself split
    s.send(part)
    time.sleep(0.2)
time.sleep(0.3)
s.close()
EOF
openssl s_client -connect 127.0.0.1:853 -servername dns.example.test </dev/null >/dev/null 2>&1 || true
stop_capture

# --- QUIC: aioquic client and server, versions 1 and 2, and a two-Initial ClientHello --
cat >"$work/quic.py" <<'EOF'
import asyncio, ssl, sys
from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion

cert, key = sys.argv[1], sys.argv[2]
BIG = [f"x-fixture-protocol-{i:03d}-{'p' * 30}" for i in range(30)]

async def main():
    server_cfg = QuicConfiguration(is_client=False, alpn_protocols=["h3", BIG[0]])
    server_cfg.load_cert_chain(cert, key)
    server = await serve("127.0.0.1", 4443, configuration=server_cfg)
    runs = [
        ("quic.example.test", ["h3"], QuicProtocolVersion.VERSION_1),
        ("quicv2.example.test", ["h3"], QuicProtocolVersion.VERSION_2),
        ("big.example.test", BIG, QuicProtocolVersion.VERSION_1),
    ]
    for name, alpn, version in runs:
        cfg = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=name,
                                verify_mode=ssl.CERT_NONE, original_version=version,
                                supported_versions=[version])
        try:
            async with connect("127.0.0.1", 4443, configuration=cfg) as client:
                await asyncio.wait_for(client.ping(), 3)
        except Exception as exc:  # the fixture only needs the client's Initials
            print("quic run", name, "ended:", exc, file=sys.stderr)
        await asyncio.sleep(0.3)
    server.close()

asyncio.run(main())
EOF
capture "$here/quic-loopback.pcap" "udp and port 4443"
"$py" "$work/quic.py" "$work/cert.pem" "$work/key.pem"
stop_capture

# --- DNS over UDP and TCP (one TCP connection, two queries), and DoH over HTTP/1.1 ----
cat >"$work/hosts" <<'EOF'
192.0.2.10 www.example.test
2001:db8::10 www.example.test
192.0.2.11 api.example.test
EOF
dnsmasq --no-daemon --no-resolv --no-hosts --addn-hosts="$work/hosts" \
  --listen-address=127.0.0.2 --bind-interfaces --port=53 \
  --cname=alias.example.test,www.example.test --txt-record=txt.example.test,"v=fixture1" \
  >/dev/null 2>&1 &
pids+=($!)
cat >"$work/doh.py" <<'EOF'
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

class DoH(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self, query):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(query, ("127.0.0.2", 53))
        reply = s.recv(4096)
        self.send_response(200)
        self.send_header("Content-Type", "application/dns-message")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers["Content-Length"])))
    def do_GET(self):
        import base64, urllib.parse
        value = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["dns"][0]
        self._answer(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", 8053), DoH).serve_forever()
EOF
"$py" "$work/doh.py" &
pids+=($!)
sleep 1
capture "$here/dns-loopback.pcap" "(host 127.0.0.2 and port 53) or port 8053"
dig +tries=1 @127.0.0.2 www.example.test A >/dev/null
dig +tries=1 @127.0.0.2 nothing.example.test A >/dev/null || true
dig +tries=1 +tcp +keepopen @127.0.0.2 alias.example.test A www.example.test AAAA >/dev/null
dig +tries=1 @127.0.0.2 txt.example.test TXT >/dev/null
"$py" -c 'import sys, dnslib; sys.stdout.buffer.write(dnslib.DNSRecord.question("api.example.test").pack())' >"$work/q.bin"
curl -s -o /dev/null -H 'content-type: application/dns-message' --data-binary @"$work/q.bin" \
  http://127.0.0.1:8053/dns-query
get=$("$py" -c 'import base64, dnslib; print(base64.urlsafe_b64encode(dnslib.DNSRecord.question("www.example.test").pack()).decode().rstrip("="))')
curl -s -o /dev/null -H 'accept: application/dns-message' "http://127.0.0.1:8053/dns-query?dns=$get"
stop_capture
echo "written: $(ls "$here"/*.pcap)"
