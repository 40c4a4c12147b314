"""A lean MQTT 5 subscriber for the ingest hot path: QoS 1, persistent session, batched acks.

Why not paho here: profiling `phare ingest` showed ~65 µs of CPU per message in paho's
network thread, a third of it reading and parsing packets (a few `recv` calls per packet, an
MQTTMessage and a Properties object each, locks) and another sixth its select loop; and every
`client.ack()` took paho's lock and woke that thread. With one Python process per core that
caps a worker well below the broker's rate. This client only does what the consumer needs:

- one TCP connection (TLS through `ssl.MemoryBIO`, see `_TlsTransport`), one receive thread
  that reads up to 256 KiB at a time and parses every complete packet of the chunk in a tight
  loop (no per-packet object but the topic and the payload handed to `on_message`);
- CONNECT with `clean_start=False`, a Session Expiry Interval and Receive Maximum 65535, so the
  broker keeps unacknowledged messages across reconnects and restarts and redelivers them,
  exactly as paho's persistent session did;
- SUBSCRIBE at QoS 1 (shared `$share/group/...` filters too), refused filters logged;
- acknowledgements in batches: `ack(packet_ids, generation)` writes the PUBACKs of a committed
  batch in one `sendall`, and only if the connection they arrived on is still the current one
  (`generation`): a packet id names another message on a new connection;
- PINGREQ when nothing was sent for half the keepalive, reconnection with exponential backoff
  (1 s to 30 s), a clean DISCONNECT on `stop()`.

It is not a general client: no publishing, no QoS 2, no topic aliases, no AUTH. paho stays
for everything else in Phare. The receive thread never raises: a malformed packet from the
broker closes the connection, and the client reconnects.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
RECEIVE_MAXIMUM = 65535  # unacknowledged QoS 1 messages the broker may send us (the most MQTT allows)

# Packet types (first byte >> 4).
_CONNACK, _PUBLISH, _PUBREL, _SUBACK, _PINGRESP, _DISCONNECT = 2, 3, 6, 9, 13, 14
_PINGREQ = b"\xc0\x00"
_DISCONNECT_NORMAL = b"\xe0\x00"

# Reason codes the broker may send in CONNACK, SUBACK or DISCONNECT (MQTT 5 §2.4).
REASONS = {
    0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will",
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8C: "bad authentication method", 0x8D: "keep alive timeout",
    0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
    0x91: "packet identifier in use", 0x93: "receive maximum exceeded",
    0x94: "topic alias invalid", 0x95: "packet too large", 0x96: "message rate too high",
    0x97: "quota exceeded", 0x98: "administrative action", 0x99: "payload format invalid",
    0x9A: "retain not supported", 0x9B: "QoS not supported", 0x9C: "use another server",
    0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported", 0xA2: "wildcard subscriptions not supported",
}

# Property identifier -> how its value is encoded (MQTT 5 §2.2.2.2).
_BYTE, _TWO, _FOUR, _VARINT, _TEXT, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _TEXT, 0x08: _TEXT, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _FOUR, 0x12: _TEXT, 0x13: _TWO, 0x15: _TEXT, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _FOUR, 0x19: _BYTE, 0x1A: _TEXT, 0x1C: _TEXT, 0x1F: _TEXT, 0x21: _TWO, 0x22: _TWO,
    0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE, 0x29: _BYTE,
    0x2A: _BYTE,
}
SERVER_KEEP_ALIVE, REASON_STRING = 0x13, 0x1F

OnMessage = Callable[[str, bytes, int], None]


class ProtocolError(Exception):
    """The broker sent something this client cannot accept; the connection is closed."""


class ConnectionRefused(Exception):
    """The broker answered CONNECT with a failure reason code."""


def reason_name(code: int) -> str:
    return f"{REASONS.get(code, 'reason')} (0x{code:02X})"


def reason_of(data: bytes, kind: str) -> str:
    """'<kind>: <reason>[: <broker's reason string>]' for a CONNACK/DISCONNECT body."""
    code = data[0] if data else 0
    text = f"{kind}: {reason_name(code)}"
    if len(data) > 1:
        props, _ = parse_properties(data, 1)
        if REASON_STRING in props:
            text += f": {props[REASON_STRING]}"
    return text


# --- encoding ---------------------------------------------------------------------------
def varint(value: int) -> bytes:
    """An MQTT variable byte integer (1 to 4 bytes)."""
    if not 0 <= value < 268_435_456:
        raise ValueError(f"{value} does not fit in an MQTT variable byte integer")
    out = bytearray()
    while True:
        value, digit = value >> 7, value & 0x7F
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def packet(first_byte: int, body: bytes) -> bytes:
    """A control packet: type and flags, remaining length, body."""
    return bytes([first_byte]) + varint(len(body)) + body


def _text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if len(raw) > 65535:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, *, keepalive: int, session_expiry: int,
                   receive_maximum: int = RECEIVE_MAXIMUM, clean_start: bool = False,
                   username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT (MQTT 5)."""
    flags = 0x02 if clean_start else 0
    payload = _text(client_id)
    if username is not None:
        flags |= 0x80
        payload += _text(username)
    if password is not None:
        flags |= 0x40
        payload += _text(password)
    props = b""
    if session_expiry:
        props += b"\x11" + struct.pack("!I", session_expiry)
    props += b"\x21" + struct.pack("!H", receive_maximum)
    body = (_text("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive)
            + varint(len(props)) + props + payload)
    return packet(0x10, body)


def subscribe_packet(packet_id: int, filters: Sequence[str], qos: int = 1) -> bytes:
    """SUBSCRIBE of every filter at `qos` (retain handling 0, as paho's default)."""
    body = struct.pack("!H", packet_id) + b"\x00"
    for f in filters:
        body += _text(f) + bytes([qos])
    return packet(0x82, body)


def puback_packets(packet_ids: Sequence[int]) -> bytes:
    """PUBACKs (success, no properties: 4 bytes each), in one buffer."""
    # 0x40 0x02 id_hi id_lo is the big-endian 32-bit number 0x40020000 | id.
    return struct.pack(f"!{len(packet_ids)}I", *[0x40020000 | p for p in packet_ids])


# --- decoding ---------------------------------------------------------------------------
def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); IndexError if the data ends inside it."""
    value = shift = 0
    for _ in range(4):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


def parse_properties(data: bytes, pos: int) -> tuple[dict[int, object], int]:
    """The properties at `pos` (length first) and the position after them."""
    length, pos = read_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("properties overrun their packet")
    props: dict[int, object] = {}
    while pos < end:
        ident = data[pos]
        pos += 1
        kind = _PROPERTY_TYPES.get(ident)
        value: object
        if kind == _BYTE:
            value, pos = data[pos], pos + 1
        elif kind == _TWO:
            value, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif kind == _FOUR:
            value, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
        elif kind == _VARINT:
            value, pos = read_varint(data, pos)
        elif kind in (_TEXT, _BINARY):
            size = int.from_bytes(data[pos:pos + 2], "big")
            raw = data[pos + 2:pos + 2 + size]
            value, pos = (raw.decode() if kind == _TEXT else raw), pos + 2 + size
        elif kind == _PAIR:
            key_size = int.from_bytes(data[pos:pos + 2], "big")
            key = data[pos + 2:pos + 2 + key_size].decode()
            pos += 2 + key_size
            size = int.from_bytes(data[pos:pos + 2], "big")
            value, pos = (key, data[pos + 2:pos + 2 + size].decode()), pos + 2 + size
        else:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
        if pos > end:
            raise ProtocolError("a property overruns its packet")
        if kind == _PAIR:  # user properties may repeat: a list of (name, value)
            pairs = props.setdefault(ident, [])
            assert isinstance(pairs, list)
            pairs.append(value)
        else:
            props[ident] = value
    return props, end


def parse_packets(data: bytes, on_publish: OnMessage,
                  on_control: Callable[[int, bytes], None]) -> tuple[int, int]:
    """Handles every complete packet of `data`: PUBLISH to `on_publish(topic, payload, id)`
    (id 0 for QoS 0), the others to `on_control(first byte, body)`.

    Returns (bytes consumed, total size of the incomplete packet that follows or 0 when its
    header is not complete either). Raises ProtocolError on a malformed packet.
    """
    n = len(data)
    pos = 0
    try:
        while n - pos >= 2:
            first = data[pos]
            i = pos + 1
            b = data[i]
            length = b & 0x7F
            i += 1
            if b & 0x80:  # remaining length of 2 to 4 bytes
                shift = 7
                while True:
                    if i >= n:
                        return pos, 0
                    b = data[i]
                    i += 1
                    length |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise ProtocolError("remaining length longer than 4 bytes")
            end = i + length
            if end > n:
                return pos, end - pos
            if first >> 4 == _PUBLISH:
                size = (data[i] << 8) | data[i + 1]
                start = i + 2
                i = start + size
                qos = (first >> 1) & 3
                if qos:
                    if qos > 1:
                        raise ProtocolError("PUBLISH at QoS 2: this client subscribes at QoS 1")
                    packet_id = (data[i] << 8) | data[i + 1]
                    i += 2
                else:
                    packet_id = 0
                b = data[i]  # properties, skipped (no topic alias: we allow none)
                if b < 0x80:
                    i += 1 + b
                else:
                    skip, i = read_varint(data, i)
                    i += skip
                if i > end or size == 0:
                    raise ProtocolError("malformed PUBLISH")
                on_publish(data[start:start + size].decode(), data[i:end], packet_id)
            else:
                on_control(first, data[i:end])
            pos = end
    except (IndexError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed packet: {exc}") from None
    return pos, 0


# --- transports -------------------------------------------------------------------------
class _PlainTransport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self) -> bytes:
        return self.sock.recv(CHUNK)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


class _TlsTransport:
    """TLS over memory BIOs, so that the receive thread and the threads that acknowledge never
    use one OpenSSL object at the same time (OpenSSL forbids it; paho avoids it by doing all
    its I/O in one thread). `_ssl_lock` guards the SSLObject; the client's send lock orders
    the records on the wire: records are taken out of the outgoing BIO and sent under it."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, hostname: str,
                 send_lock: threading.Lock) -> None:
        self.sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=hostname)
        self._ssl_lock = threading.Lock()
        self._send_lock = send_lock
        self._closed = False  # the broker sent close_notify
        while True:  # handshake, before any other thread knows this transport
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self._out.pending:
                    sock.sendall(self._out.read())
                data = sock.recv(CHUNK)
                if not data:
                    raise ConnectionError("the broker closed the TLS handshake") from None
                self._in.write(data)
        if self._out.pending:
            sock.sendall(self._out.read())

    def recv(self) -> bytes:
        while not self._closed:
            raw = self.sock.recv(CHUNK)
            if not raw:
                break
            chunks = []
            with self._ssl_lock:
                self._in.write(raw)
                try:
                    while True:
                        chunks.append(self._tls.read(CHUNK))
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    self._closed = True  # what came before it is still handed over
                reply = self._out.pending
            if reply:  # e.g. a key update: sent in order with the acknowledgements
                with self._send_lock:
                    self._flush()
            data = b"".join(chunks)
            if data:
                return data
        return b""

    def send(self, data: bytes) -> None:
        """Called with the client's send lock held."""
        with self._ssl_lock:
            self._tls.write(data)
        self._flush()

    def _flush(self) -> None:
        with self._ssl_lock:
            out = self._out.read()
        if out:
            self.sock.sendall(out)


# --- the client -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Options:
    """How to reach the broker and which session to resume."""

    host: str
    port: int
    client_id: str
    topics: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    keepalive: int = 30
    session_expiry: int = 0  # seconds the broker keeps the session after a disconnection
    clean_start: bool = False  # True: start a new session (what the broker kept is discarded)
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    connect_timeout: float = 10.0


class Subscriber:
    """Receives QoS 1 messages of a persistent MQTT 5 session until `stop()`.

    Callbacks run in the receive thread: `on_message(topic, payload, packet_id)` (packet_id 0
    for QoS 0: nothing to acknowledge), `on_connect(session_present)` once the subscriptions
    are confirmed, `on_disconnect(reason)` when an established connection ends.
    """

    def __init__(self, options: Options, on_message: OnMessage,
                 on_connect: Callable[[bool], None] | None = None,
                 on_disconnect: Callable[[str], None] | None = None) -> None:
        self.options = options
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._send_lock = threading.Lock()
        self._transport: _PlainTransport | _TlsTransport | None = None
        self._generation = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phare-mqtt", daemon=True)
        self._keepalive = options.keepalive
        self._last_sent = 0.0
        self._ping_sent: float | None = None
        self._session_present = False
        self._subscribed = threading.Event()
        self._closing_reason: str | None = None  # set by a DISCONNECT from the broker

    @property
    def generation(self) -> int:
        """Number of the current connection (changes at every successful CONNACK)."""
        return self._generation

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self._subscribed.wait(timeout)

    def start(self) -> None:
        """Connects in the background (retrying with backoff) and starts receiving."""
        self._thread.start()

    def ack(self, packet_ids: Iterable[int], generation: int) -> bool:
        """Acknowledges messages of connection `generation` in one write; False if not sent
        (another connection now: the broker redelivers those messages)."""
        ids = [p for p in packet_ids if p]
        if not ids:
            return True
        data = puback_packets(ids)
        with self._send_lock:
            transport = self._transport
            if transport is None or generation != self._generation:
                return False
            try:
                transport.send(data)
            except OSError as exc:
                # Maybe half written: end this connection (the receive thread reconnects).
                log.warning("acknowledgements not sent (%s); closing the connection", exc)
                _shutdown(transport.sock)
                return False
            self._last_sent = time.monotonic()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnects cleanly (the session stays on the broker) and ends the receive thread."""
        self._stopping.set()
        with self._send_lock:
            transport, self._transport = self._transport, None
            if transport is not None:
                try:
                    transport.send(_DISCONNECT_NORMAL)
                except OSError:
                    pass
                _shutdown(transport.sock)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- receive thread ---------------------------------------------------------------
    def _run(self) -> None:
        o = self.options
        delay = o.reconnect_min
        while not self._stopping.is_set():
            try:
                transport, early = self._connect()
            except ConnectionRefused as exc:
                log.error("the broker at %s:%d refused the connection (%s); retrying in %.0f s",
                          o.host, o.port, exc, delay)
            except (OSError, ProtocolError, ssl.SSLError) as exc:
                if not self._stopping.is_set():
                    log.warning("cannot connect to the broker at %s:%d (%s); retrying in %.0f s",
                                o.host, o.port, exc or type(exc).__name__, delay)
            except Exception:
                log.exception("unexpected error while connecting; retrying in %.0f s", delay)
            else:
                delay = o.reconnect_min
                reason = self._receive(transport, early)
                self._subscribed.clear()
                self._close(transport)
                if self._stopping.is_set():
                    return
                log.warning("lost the broker at %s:%d (%s); reconnecting in %.0f s",
                            o.host, o.port, reason, delay)
                if self._on_disconnect is not None:
                    try:
                        self._on_disconnect(reason)
                    except Exception:
                        log.exception("on_disconnect callback failed")
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, o.reconnect_max)

    def _connect(self) -> tuple[_PlainTransport | _TlsTransport, bytes]:
        """A connection the broker accepted, SUBSCRIBE sent, now the current generation; and
        the bytes that came after CONNACK."""
        o = self.options
        sock = socket.create_connection((o.host, o.port), timeout=o.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport: _PlainTransport | _TlsTransport
            if o.tls is not None:
                transport = _TlsTransport(sock, o.tls, o.host, self._send_lock)
            else:
                transport = _PlainTransport(sock)
            transport.send(connect_packet(
                o.client_id, keepalive=o.keepalive, session_expiry=o.session_expiry,
                clean_start=o.clean_start, username=o.username, password=o.password))
            connack, early = self._read_connack(transport)
        except BaseException:
            sock.close()
            raise
        flags, code = connack[0], connack[1]
        if code >= 0x80:
            sock.close()
            raise ConnectionRefused(reason_of(connack[1:], "CONNACK"))
        props, _ = parse_properties(connack, 2) if len(connack) > 2 else ({}, 2)
        keepalive = props.get(SERVER_KEEP_ALIVE)
        self._keepalive = keepalive if isinstance(keepalive, int) else o.keepalive
        self._session_present = bool(flags & 1)
        sock.settimeout(max(0.5, self._keepalive / 4) if self._keepalive else None)
        with self._send_lock:
            if self._stopping.is_set():
                sock.close()
                raise OSError("stopping")
            self._generation += 1
            self._transport = transport
            self._ping_sent = None
            transport.send(subscribe_packet(1, o.topics))
            self._last_sent = time.monotonic()
        log.debug("connected to the broker at %s:%d (session %s)", o.host, o.port,
                 "resumed" if self._session_present else "new")
        return transport, early

    def _read_connack(self, transport: _PlainTransport | _TlsTransport) -> tuple[bytes, bytes]:
        """(CONNACK body, what followed it in the same reads: session messages already)."""
        data = b""
        while True:
            chunk = transport.recv()
            if not chunk:
                raise ConnectionError("the broker closed the connection before CONNACK")
            data += chunk
            try:
                length, start = read_varint(data, 1)
            except IndexError:
                continue
            if len(data) < start + length:
                continue
            if data[0] != _CONNACK << 4 or length < 2:
                raise ProtocolError(f"expected CONNACK, got packet type {data[0] >> 4}")
            return data[start:start + length], data[start + length:]

    def _receive(self, transport: _PlainTransport | _TlsTransport, early: bytes) -> str:
        """Reads and dispatches packets until the connection ends; returns why it ended."""
        on_message, on_control, recv = self._on_message_safe, self._control, transport.recv
        parts = [early] if early else []  # bytes received and not parsed yet
        size = len(early)
        need = 0  # size of the incomplete packet at the start of `parts`, when known
        fresh = bool(early)
        try:
            while True:
                if fresh and size >= need:  # a large packet is joined once, when whole
                    data = parts[0] if len(parts) == 1 else b"".join(parts)
                    pos, need = parse_packets(data, on_message, on_control)
                    rest = data[pos:]
                    parts, size = ([rest] if rest else []), len(rest)
                    if self._closing_reason is not None:
                        return self._closing_reason
                try:
                    chunk = recv()
                except TimeoutError:
                    fresh = False
                else:
                    if not chunk:
                        return "connection closed by the broker"
                    parts.append(chunk)
                    size += len(chunk)
                    fresh = True
                problem = self._keep_alive()
                if problem:
                    return problem
        except ProtocolError as exc:
            log.error("closing the connection: %s", exc)
            return f"protocol error: {exc}"
        except (OSError, ssl.SSLError) as exc:
            return str(exc) or type(exc).__name__
        except Exception as exc:  # never let the receive thread die
            log.exception("unexpected error in the MQTT receive thread")
            return f"internal error: {exc}"
        finally:
            self._closing_reason = None

    def _on_message_safe(self, topic: str, payload: bytes, packet_id: int) -> None:
        try:
            self._on_message(topic, payload, packet_id)
        except Exception:
            # Not acknowledged: the broker redelivers it on the next connection.
            log.exception("on_message callback failed on topic %s", topic[:200])

    def _control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == _SUBACK:
            self._suback(body)
        elif kind == _PINGRESP:
            self._ping_sent = None
        elif kind == _DISCONNECT:
            self._closing_reason = reason_of(body, "the broker disconnected us")
        elif kind == _PUBREL:
            raise ProtocolError("PUBREL: this client never receives QoS 2")
        else:
            raise ProtocolError(f"unexpected packet type {kind}")

    def _suback(self, body: bytes) -> None:
        if len(body) < 3:
            raise ProtocolError("SUBACK too short")
        _, pos = parse_properties(body, 2)
        codes = body[pos:]
        topics = self.options.topics
        if len(codes) != len(topics):
            raise ProtocolError(f"SUBACK has {len(codes)} reason codes for {len(topics)} filters")
        for topic, code in zip(topics, codes, strict=True):
            if code >= 0x80:
                log.error("the broker refused the subscription to %s: %s", topic, reason_name(code))
            elif code == 0:
                log.warning("the broker granted QoS 0 only for %s: its messages will not be "
                            "redelivered after a crash", topic)
        self._subscribed.set()
        if self._on_connect is not None:
            try:
                self._on_connect(self._session_present)
            except Exception:
                log.exception("on_connect callback failed")

    def _keep_alive(self) -> str | None:
        """Sends PINGREQ when we have been quiet; a reason to close when the broker is."""
        if not self._keepalive:
            return None
        now = time.monotonic()
        if self._ping_sent is not None:
            if now - self._ping_sent > self._keepalive:
                return f"no answer to PINGREQ within {self._keepalive} s"
        elif now - self._last_sent >= self._keepalive / 2:
            with self._send_lock:
                if self._transport is not None:
                    self._transport.send(_PINGREQ)
                    self._last_sent = self._ping_sent = now
        return None

    def _close(self, transport: _PlainTransport | _TlsTransport) -> None:
        with self._send_lock:
            if self._transport is transport:
                self._transport = None
        _shutdown(transport.sock)
        transport.sock.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
