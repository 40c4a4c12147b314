"""A lean MQTT 3.1.1 publisher on a socket, for runs flat out: QoS 1 PUBLISH packets written
in blocks, a bounded number unacknowledged, PUBACKs counted.

paho spends 60-200 µs of CPU on each QoS 1 message (its network thread, locks, an
acknowledgement object a message): a few thousand messages a second on a loaded 2-core
machine, far below what ingest stores. Here a message costs its packet's bytes, so the
broker sets the pace. It subscribes to nothing: commands need the paho link (`runner._Link`).
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from .errors import BrokerError

CONNACK_OK = b"\x20\x02\x00\x00"
PUBACK = 0x40
KEEPALIVE_S = 120


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _header(first_byte: int, size: int) -> bytes:
    """Packet type and flags, then the remaining length as a variable byte integer."""
    out = bytearray([first_byte])
    while True:
        size, digit = size >> 7, size & 0x7F
        out.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(out)


class Publisher:
    """One connection publishing QoS 1 messages; `window` of them unacknowledged at most."""

    def __init__(self, url: str, client_id: str, *, window: int = 5000,
                 timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
        if not 0 < window < 65535:
            raise ValueError("the window must hold fewer messages than packet identifiers")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.tls = parts.scheme == "mqtts"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.client_id = client_id
        self.window = window
        self.timeout = timeout
        self.sent = 0
        self.acked = 0
        self._sock: socket.socket | None = None
        self._pending = b""  # a PUBACK split between two reads

    def connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            flags, auth = 0x02, b""  # a clean session
            if self.username is not None:
                flags, auth = flags | 0x80, _utf8(self.username)
                if self.password is not None:
                    flags, auth = flags | 0x40, auth + _utf8(self.password)
            body = (_utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", KEEPALIVE_S)
                    + _utf8(self.client_id) + auth)
            sock.sendall(_header(0x10, len(body)) + body)
            answer = self._read_exactly(sock, 4)
        except OSError as exc:
            raise BrokerError(f"cannot reach the MQTT broker at {self.host}:{self.port}: "
                              f"{exc}") from exc
        if answer != CONNACK_OK:
            sock.close()
            raise BrokerError(f"the MQTT broker at {self.host}:{self.port} refused the "
                              f"connection (CONNACK {answer.hex()})")
        self._sock = sock

    def publish(self, topics: Sequence[str], payloads: Sequence[bytes],
                retained: Sequence[bool]) -> None:
        """Sends the messages in order, waiting for acknowledgements as the window fills."""
        i, n = 0, len(payloads)
        while i < n:
            room = self.window - (self.sent - self.acked)
            if room <= self.window // 2:
                self._receive(self.sent - self.window // 4)
                continue
            block = []
            for topic, payload, retain in zip(topics[i:i + room], payloads[i:i + room],
                                              retained[i:i + room], strict=True):
                self.sent += 1
                head = _utf8(topic) + struct.pack("!H", self.sent % 65535 + 1)
                block.append(_header(0x33 if retain else 0x32, len(head) + len(payload)))
                block.append(head)
                block.append(payload)
            i += room
            self._send(b"".join(block))

    def flush(self) -> None:
        """Waits until the broker has acknowledged every message sent."""
        self._receive(self.sent)

    def close(self) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            pass
        self._sock.close()
        self._sock = None

    def _send(self, data: bytes) -> None:
        assert self._sock is not None, "connect() first"
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise BrokerError(f"publishing to {self.host}:{self.port} failed: {exc}") from exc

    def _receive(self, until: int) -> None:
        """Reads PUBACKs until `until` messages are acknowledged."""
        assert self._sock is not None, "connect() first"
        while self.acked < until:
            try:
                data = self._sock.recv(65536)
            except OSError as exc:  # a timeout too: the broker stopped acknowledging
                raise BrokerError(f"the MQTT broker at {self.host}:{self.port} did not "
                                  f"acknowledge: {exc}") from exc
            if not data:
                raise BrokerError(f"the MQTT broker at {self.host}:{self.port} closed the "
                                  "connection")
            data = self._pending + data
            whole = len(data) // 4 * 4
            if any(b != PUBACK for b in data[0:whole:4]):  # we subscribe to nothing
                raise BrokerError(f"unexpected packet from the MQTT broker: {data[:8].hex()}")
            self.acked += whole // 4
            self._pending = data[whole:]

    @staticmethod
    def _read_exactly(sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data
