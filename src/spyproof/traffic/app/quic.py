"""QUIC client Initial packets: detection, decryption (RFC 9001 §5) and the ClientHello.

Why decrypt: Initial packets are protected only with keys derived from the connection
ID the client picked, so anyone on the path can read the ClientHello (SNI, ALPN, JA4) —
and must, since QUIC carries a growing share of device traffic. Versions 1 (RFC 9000),
2 (RFC 9369) and the late drafts (23–34) are handled. A ClientHello spread over several
Initial packets (large post-quantum key shares) is reassembled from CRYPTO frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

V1, V2 = 0x00000001, 0x6B3343CF
SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # RFC 9001 §5.2
SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")  # RFC 9369 §3.3.1
SALT_DRAFT23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")  # drafts 23–28
SALT_DRAFT29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # drafts 29–32
MIN_CLIENT_INITIAL = 1200  # RFC 9000 §14.1: a client pads datagrams with Initials to this
MAX_CRYPTO = 16384  # bytes of CRYPTO data we keep per connection: any real ClientHello


class QuicError(ValueError):
    """Not a QUIC Initial packet we can read."""


def salt_for(version: int) -> bytes | None:
    """The Initial salt of a version, or None for versions we cannot decrypt."""
    if version == V1:
        return SALT_V1
    if version == V2:
        return SALT_V2
    if version >> 8 == 0xFF0000:
        draft = version & 0xFF
        if 23 <= draft <= 28:
            return SALT_DRAFT23
        if 29 <= draft <= 32:
            return SALT_DRAFT29
        if 33 <= draft <= 34:
            return SALT_V1
    return None


def version_name(version: int) -> str:
    if version == V1:
        return "1"
    if version == V2:
        return "2"
    if version >> 8 == 0xFF0000:
        return f"draft-{version & 0xFF}"
    return f"{version:#010x}"


def initial_type(version: int) -> int:
    """Long-header packet type bits of an Initial: v2 renumbered them (RFC 9369 §3.2)."""
    return 0b01 if version == V2 else 0b00


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """RFC 9000 §16 variable-length integer at ``pos`` → (value, next pos)."""
    if pos >= len(data):
        raise QuicError("truncated varint")
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise QuicError("truncated varint")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | data[pos + i]
    return value, pos + size


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


@dataclass(frozen=True, slots=True)
class InitialKeys:
    key: bytes
    iv: bytes
    hp: bytes


def client_initial_keys(dcid: bytes, version: int) -> InitialKeys:
    """Client Initial key, IV and header-protection key for a DCID (RFC 9001 §5.2)."""
    salt = salt_for(version)
    if salt is None:
        raise QuicError(f"no Initial salt for version {version:#x}")
    mac = hmac.HMAC(salt, hashes.SHA256())
    mac.update(dcid)
    initial_secret = mac.finalize()  # HKDF-Extract
    client_secret = _expand_label(initial_secret, b"client in", 32)
    prefix = b"quicv2 " if version == V2 else b"quic "
    return InitialKeys(
        _expand_label(client_secret, prefix + b"key", 16),
        _expand_label(client_secret, prefix + b"iv", 12),
        _expand_label(client_secret, prefix + b"hp", 16),
    )


@dataclass(slots=True)
class LongHeader:
    first: int
    version: int
    dcid: bytes
    scid: bytes
    is_initial: bool
    start: int = 0  # where this packet starts within the datagram
    pn_offset: int = 0  # Initial only: where the packet number starts
    end: int = 0  # Initial only: end of this packet within the datagram


def parse_long_header(data: bytes, pos: int = 0) -> LongHeader:
    """Long header at ``pos`` (RFC 9000 §17.2); Initial packets also get their bounds."""
    if len(data) < pos + 7 or data[pos] & 0x80 == 0:
        raise QuicError("not a long header")
    first = data[pos]
    version = int.from_bytes(data[pos + 1 : pos + 5], "big")
    p = pos + 5
    dcid_len = data[p]
    if dcid_len > 20:
        raise QuicError("connection id longer than 20 bytes")
    dcid = data[p + 1 : p + 1 + dcid_len]
    p += 1 + dcid_len
    if p >= len(data) or len(dcid) < dcid_len:
        raise QuicError("truncated connection id")
    scid_len = data[p]
    if scid_len > 20:
        raise QuicError("connection id longer than 20 bytes")
    scid = data[p + 1 : p + 1 + scid_len]
    p += 1 + scid_len
    if len(scid) < scid_len:
        raise QuicError("truncated connection id")
    is_initial = (
        version != 0
        and salt_for(version) is not None
        and (first >> 4) & 0x3 == initial_type(version)
        and bool(first & 0x40)
    )
    header = LongHeader(first, version, dcid, scid, is_initial, start=pos)
    if is_initial:
        token_len, p = read_varint(data, p)
        p += token_len
        length, p = read_varint(data, p)
        if p > len(data) or length < 20:
            raise QuicError("implausible Initial length")
        header.pn_offset = p
        header.end = p + length
    return header


def decrypt_initial(data: bytes, header: LongHeader, dcid: bytes) -> bytes:
    """Remove header protection and decrypt one client Initial → its frames."""
    if header.end > len(data):
        raise QuicError("Initial cut short")
    keys = client_initial_keys(dcid, header.version)
    pn_offset = header.pn_offset
    sample = data[pn_offset + 4 : pn_offset + 20]
    if len(sample) < 16:
        raise QuicError("too short for a header-protection sample")
    encryptor = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    start = header.start
    first_byte = data[start] ^ (mask[0] & 0x0F)
    pn_len = (first_byte & 0x03) + 1
    packet_number = int.from_bytes(data[pn_offset : pn_offset + pn_len], "big") ^ int.from_bytes(
        mask[1 : 1 + pn_len], "big"
    )
    aad = bytes([first_byte]) + data[start + 1 : pn_offset] + packet_number.to_bytes(pn_len, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ packet_number).to_bytes(12, "big")
    try:
        return AESGCM(keys.key).decrypt(nonce, data[pn_offset + pn_len : header.end], aad)
    except InvalidTag as exc:
        raise QuicError("Initial does not decrypt with the client's Initial keys") from exc


def crypto_frames(frames: bytes) -> list[tuple[int, bytes]]:
    """CRYPTO frames (offset, data) among the frames an Initial may carry (RFC 9000 §17.2.2)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(frames):
        ftype, pos = read_varint(frames, pos)
        if ftype == 0x00 or ftype == 0x01:  # PADDING, PING
            continue
        if ftype in (0x02, 0x03):  # ACK (with ECN counts for 0x03)
            _, pos = read_varint(frames, pos)  # largest acknowledged
            _, pos = read_varint(frames, pos)  # delay
            count, pos = read_varint(frames, pos)
            _, pos = read_varint(frames, pos)  # first range
            for _ in range(min(count, 1024) * 2):
                _, pos = read_varint(frames, pos)
            if ftype == 0x03:
                for _ in range(3):
                    _, pos = read_varint(frames, pos)
        elif ftype == 0x06:
            offset, pos = read_varint(frames, pos)
            length, pos = read_varint(frames, pos)
            if pos + length > len(frames):
                raise QuicError("CRYPTO frame overruns the packet")
            out.append((offset, frames[pos : pos + length]))
            pos += length
        elif ftype in (0x1C, 0x1D):  # CONNECTION_CLOSE: nothing more to read
            break
        else:
            raise QuicError(f"frame type {ftype:#x} is not allowed in an Initial")
    return out


@dataclass(slots=True)
class CryptoStream:
    """CRYPTO data of one connection's client Initials, by offset."""

    original_dcid: bytes
    version: int
    fragments: dict[int, bytes] = field(default_factory=dict)
    size: int = 0

    def add(self, offset: int, data: bytes) -> None:
        if offset + len(data) > MAX_CRYPTO or offset in self.fragments:
            return
        self.fragments[offset] = data
        self.size += len(data)

    def contiguous(self) -> bytes:
        """The bytes from offset 0 up to the first hole."""
        out = bytearray()
        for offset in sorted(self.fragments):
            data = self.fragments[offset]
            if offset > len(out):
                break
            if offset + len(data) > len(out):
                out += data[len(out) - offset :]
        return bytes(out)


def client_initials(datagram: bytes) -> list[LongHeader]:
    """The Initial packets coalesced at the start of a UDP datagram (RFC 9000 §12.2)."""
    packets: list[LongHeader] = []
    pos = 0
    while pos < len(datagram) and datagram[pos] & 0x80:
        header = parse_long_header(datagram, pos)
        if not header.is_initial:
            break
        packets.append(header)
        pos = header.end
    return packets
