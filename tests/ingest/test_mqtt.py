"""The lean MQTT 5 subscriber of ingest: its packet parser, then against the real Mosquitto."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from ingest.mqtt import (
    CHUNK,
    Options,
    ProtocolError,
    Subscriber,
    parse_packets,
    puback_packets,
    read_varint,
    varint,
)
from tests.conftest import Broker, wait_for


# --- packets, built by hand here (not with the module's encoders) -----------------------
def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, packet_id: int = 0, properties: bytes = b"",
            dup: bool = False) -> bytes:
    """A PUBLISH as the broker sends it: QoS 1 when packet_id, else QoS 0."""
    first = 0x30 | (0x08 if dup else 0) | (0x02 if packet_id else 0)
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if packet_id:
        body += struct.pack("!H", packet_id)
    body += remaining_length(len(properties)) + properties + payload
    return bytes([first]) + remaining_length(len(body)) + body


PINGRESP = b"\xd0\x00"
# Properties a broker may attach to a PUBLISH: payload format indicator, message expiry
# interval, content type, a user property.
PROPERTIES = (b"\x01\x01" + b"\x02\x00\x00\x00\x3c" + b"\x03\x00\x10application/json"
              + b"\x26\x00\x03src\x00\x04test")


class Collector:
    """Records what the parser hands over."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, int]] = []
        self.control: list[tuple[int, bytes]] = []

    def on_message(self, topic: str, payload: bytes, packet_id: int) -> None:
        self.messages.append((topic, payload, packet_id))

    def on_control(self, first: int, body: bytes) -> None:
        self.control.append((first, body))


@pytest.mark.parametrize(
    ("value", "size"),
    [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (2_097_151, 3), (2_097_152, 4),
     (268_435_455, 4)],
)
def test_variable_byte_integers_of_one_to_four_bytes(value, size):
    encoded = varint(value)
    assert encoded == remaining_length(value) and len(encoded) == size
    assert read_varint(encoded + b"rest", 0) == (value, size)


def test_a_fifth_length_byte_is_refused():
    with pytest.raises(ProtocolError):
        read_varint(b"\xff\xff\xff\xff\x01", 0)
    with pytest.raises(ProtocolError):
        parse_packets(b"\x30\xff\xff\xff\xff\x01", Collector().on_message, Collector().on_control)


@pytest.mark.parametrize("payload_size", [0, 100, 200, 20_000, 3_000_000],
                         ids=["empty", "1-byte-length", "2-byte-length", "3-byte-length",
                              "4-byte-length"])
def test_publish_of_every_remaining_length_size(payload_size):
    payload = bytes(range(256)) * (payload_size // 256) + b"x" * (payload_size % 256)
    packet = publish("phare/v1/t/d/telemetry", payload, packet_id=7)
    c = Collector()
    assert parse_packets(packet, c.on_message, c.on_control) == (len(packet), 0)
    assert c.messages == [("phare/v1/t/d/telemetry", payload, 7)]


def test_qos0_and_qos1_with_properties_skipped():
    stream = (publish("a/b", b"zero") + publish("a/c", b"one", packet_id=65535,
                                                  properties=PROPERTIES, dup=True)
              + PINGRESP + publish("é/ü", b"utf-8 topic", packet_id=1))
    c = Collector()
    assert parse_packets(stream, c.on_message, c.on_control) == (len(stream), 0)
    assert c.messages == [("a/b", b"zero", 0), ("a/c", b"one", 65535), ("é/ü", b"utf-8 topic", 1)]
    assert c.control == [(0xD0, b"")]


def test_incomplete_packet_is_left_for_the_next_read():
    first, second = publish("a/b", b"1", packet_id=1), publish("a/b", b"2" * 500, packet_id=2)
    c = Collector()
    # The second's header is complete: its whole size is known.
    assert parse_packets(first + second[:10], c.on_message, c.on_control) == (len(first), len(second))
    # Only its first byte: its size is not known yet.
    assert parse_packets(first + second[:1], c.on_message, c.on_control) == (len(first), 0)
    assert c.messages == [("a/b", b"1", 1), ("a/b", b"1", 1)]


@pytest.mark.parametrize(
    ("packet", "words"),
    [
        pytest.param(b"\x34\x07\x00\x03a/b\x00\x01", "QoS 2", id="qos2"),
        pytest.param(b"\x32\x05\x00\x09a/b", "malformed", id="topic-overruns-packet"),
        pytest.param(b"\x30\x04\x00\x00\x00x", "malformed", id="empty-topic"),
        pytest.param(b"\x30\x06\x00\x02\xff\xfe\x00x", "malformed", id="topic-not-utf8"),
        pytest.param(b"\x32\x07\x00\x03a/b\x00\x01", "malformed", id="no-properties-length"),
    ],
)
def test_malformed_publish_is_a_protocol_error(packet, words):
    with pytest.raises(ProtocolError, match=words):
        parse_packets(packet, Collector().on_message, Collector().on_control)


class ChunkTransport:
    """Hands over a byte stream in the chunks given, then the end of the connection.

    A fake: Mosquitto cannot be made to split its packets at chosen bytes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sock = socket.socket()

    def recv(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def send(self, data: bytes) -> None:
        raise AssertionError("nothing to send")


def receive_stream(chunks: list[bytes]) -> list[tuple[str, bytes, int]]:
    """What a subscriber's receive loop hands to on_message for a stream read in `chunks`."""
    got: list[tuple[str, bytes, int]] = []
    client = Subscriber(Options("127.0.0.1", 1, "unit", ("#",), keepalive=0),
                        lambda t, p, i: got.append((t, p, i)))
    transport = ChunkTransport(chunks)
    try:
        reason = client._receive(transport, b"")  # type: ignore[arg-type]
    finally:
        transport.sock.close()
    assert reason == "connection closed by the broker"
    return got


STREAM_MESSAGES = [("phare/v1/t/d/telemetry", b'{"ts": 1}', 1), ("a", b"", 0),
                   ("x/y", b"p" * 300, 2), ("z", b"props", 3)]
STREAM = (publish(*STREAM_MESSAGES[0]) + publish(*STREAM_MESSAGES[1]) + PINGRESP
          + publish(*STREAM_MESSAGES[2]) + publish(*STREAM_MESSAGES[3], properties=PROPERTIES))


def test_reads_split_at_every_byte_boundary():
    for cut in range(1, len(STREAM)):
        assert receive_stream([STREAM[:cut], STREAM[cut:]]) == STREAM_MESSAGES, cut


def test_reads_of_one_byte_each():
    assert receive_stream([STREAM[i:i + 1] for i in range(len(STREAM))]) == STREAM_MESSAGES


def test_a_packet_larger_than_a_read_is_gathered():
    big = publish("big", b"b" * (5 * CHUNK), packet_id=9)
    stream = publish("small", b"s", packet_id=8) + big + publish("after", b"a", packet_id=10)
    chunks = [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]
    assert receive_stream(chunks) == [("small", b"s", 8), ("big", b"b" * (5 * CHUNK), 9),
                                      ("after", b"a", 10)]


def test_refused_subscription_is_logged_and_the_rest_served(caplog):
    """SUBACK with one refused filter (Mosquitto refuses only with ACLs, not configured here)."""
    got: list[tuple[str, bytes, int]] = []
    connects: list[bool] = []
    client = Subscriber(Options("127.0.0.1", 1, "unit", ("a/#", "b/#"), keepalive=0),
                        lambda t, p, i: got.append((t, p, i)), connects.append)
    suback = b"\x90\x05\x00\x01\x00\x01\x87"  # packet id 1, no properties, QoS 1, refused
    transport = ChunkTransport([suback + publish("a/x", b"served", packet_id=3)])
    try:
        client._receive(transport, b"")  # type: ignore[arg-type]
    finally:
        transport.sock.close()
    assert "refused the subscription to b/#: not authorized (0x87)" in caplog.text
    assert connects == [False] and got == [("a/x", b"served", 3)]


def test_disconnect_from_the_broker_ends_the_connection_with_its_reason():
    client = Subscriber(Options("127.0.0.1", 1, "unit", ("#",), keepalive=0), lambda *_: None)
    reason_string = b"\x1f\x00\x0banother one"
    disconnect = b"\xe0" + bytes([2 + len(reason_string)]) + b"\x8e" + bytes([len(reason_string)])
    transport = ChunkTransport([publish("a", b"1") + disconnect + reason_string,
                                publish("not read", b"")])
    try:
        reason = client._receive(transport, b"")  # type: ignore[arg-type]
    finally:
        transport.sock.close()
    assert reason == "the broker disconnected us: session taken over (0x8E): another one"


def test_pubacks_are_four_bytes_each_in_one_buffer():
    assert puback_packets([1, 258, 65535]) == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"


# --- against the real Mosquitto -----------------------------------------------------------
class Received:
    """A subscriber's callbacks, recorded; messages are not acknowledged unless asked."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, int, int]] = []  # topic, payload, id, generation
        self.connects: list[bool] = []
        self.disconnects: list[str] = []
        self.client: Subscriber | None = None

    def on_message(self, topic: str, payload: bytes, packet_id: int) -> None:
        assert self.client is not None
        self.messages.append((topic, payload, packet_id, self.client.generation))

    def payloads(self) -> list[bytes]:
        return [m[1] for m in self.messages]


def subscriber(port: int, topics: tuple[str, ...], client_id: str | None = None,
               **options: object) -> tuple[Subscriber, Received]:
    received = Received()
    client = Subscriber(
        Options("127.0.0.1", port, client_id or f"test-{uuid.uuid4().hex[:8]}", topics,
                reconnect_min=0.2, **options),  # type: ignore[arg-type]
        received.on_message, received.connects.append, received.disconnects.append)
    received.client = client
    client.start()
    assert client.wait_connected(10), "not connected and subscribed"
    return client, received


def discard_session(port: int, client_id: str) -> None:
    client, _ = subscriber(port, ("discard/#",), client_id, clean_start=True)
    client.stop()


@pytest.fixture
def prefix() -> str:
    return f"test-mqtt/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def paho(broker) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def send(client: mqtt.Client, topic: str, payloads: list[bytes], qos: int = 1) -> None:
    for info in [client.publish(topic, p, qos=qos) for p in payloads]:
        info.wait_for_publish(10)


def test_receives_qos1_and_qos0_messages(broker, paho, prefix):
    client, got = subscriber(broker.port, (f"{prefix}/#",))
    try:
        assert got.connects == [False]  # a new session
        send(paho, f"{prefix}/one", [b"first", b"second"], qos=1)
        send(paho, f"{prefix}/zero", [b"unacknowledged"], qos=0)
        wait_for(lambda: len(got.messages) == 3)
        assert [(t, p) for t, p, _, _ in got.messages] == [
            (f"{prefix}/one", b"first"), (f"{prefix}/one", b"second"),
            (f"{prefix}/zero", b"unacknowledged")]
        ids = [i for _, _, i, _ in got.messages]
        assert ids[0] and ids[1] and ids[0] != ids[1] and ids[2] == 0
    finally:
        client.stop()


def test_unacknowledged_messages_are_redelivered_and_acknowledged_ones_are_not(
        broker, paho, prefix):
    client_id = f"acks-{uuid.uuid4().hex[:8]}"
    client, got = subscriber(broker.port, (f"{prefix}/#",), client_id, session_expiry=60)
    payloads = [f"m{i}".encode() for i in range(20)]
    try:
        send(paho, f"{prefix}/x", payloads)
        wait_for(lambda: len(got.messages) == 20)
        # The first half in one batch, as the writer acknowledges a committed batch.
        assert client.ack([m[2] for m in got.messages[:10]], client.generation)
        time.sleep(0.2)
    finally:
        client.stop()
    client, again = subscriber(broker.port, (f"{prefix}/#",), client_id, session_expiry=60)
    try:
        assert again.connects == [True]  # the session was kept
        wait_for(lambda: len(again.messages) == 10)
        time.sleep(0.5)
        assert again.payloads() == payloads[10:]
        assert client.ack([m[2] for m in again.messages], client.generation)
        time.sleep(0.2)
    finally:
        client.stop()
    client, third = subscriber(broker.port, (f"{prefix}/#",), client_id, session_expiry=60)
    try:
        time.sleep(0.5)
        assert third.connects == [True] and third.messages == []
    finally:
        client.stop()
        discard_session(broker.port, client_id)


def test_acks_of_an_earlier_connection_are_not_sent(broker, paho, prefix):
    client_id = f"gen-{uuid.uuid4().hex[:8]}"
    client, got = subscriber(broker.port, (f"{prefix}/#",), client_id, session_expiry=60)
    try:
        send(paho, f"{prefix}/x", [b"a", b"b"])
        wait_for(lambda: len(got.messages) == 2)
        old = client.generation
        client._transport.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]  # network cut
        wait_for(lambda: client.generation == old + 1 and client.connected)
        assert got.disconnects and got.connects == [False, True]
        # Their ids may name other messages on this connection: not sent, and redelivered.
        assert not client.ack([m[2] for m in got.messages], old)
        wait_for(lambda: len(got.messages) == 4)
        assert [(p, g) for _, p, _, g in got.messages[2:]] == [(b"a", old + 1), (b"b", old + 1)]
    finally:
        client.stop()
        discard_session(broker.port, client_id)


def test_shared_subscription_hands_each_message_to_one_member(broker, paho, prefix):
    group = f"g{uuid.uuid4().hex[:8]}"
    members = [subscriber(broker.port, (f"$share/{group}/{prefix}/#",)) for _ in range(2)]
    payloads = [f"s{i}".encode() for i in range(200)]
    try:
        send(paho, f"{prefix}/x", payloads)
        wait_for(lambda: sum(len(got.messages) for _, got in members) == 200)
        time.sleep(0.3)
        each = [got.payloads() for _, got in members]
        assert all(len(p) > 20 for p in each), [len(p) for p in each]
        assert sorted(each[0] + each[1]) == sorted(payloads)
        for client, got in members:
            assert client.ack([m[2] for m in got.messages], client.generation)
    finally:
        for client, _ in members:
            client.stop()


def test_a_failing_callback_costs_its_message_only(broker, paho, prefix):
    got: list[bytes] = []

    def on_message(topic: str, payload: bytes, packet_id: int) -> None:
        if payload == b"bad":
            raise RuntimeError("a bug in the callback")
        got.append(payload)

    client = Subscriber(Options("127.0.0.1", broker.port, f"cb-{uuid.uuid4().hex[:8]}",
                                (f"{prefix}/#",)), on_message)
    client.start()
    try:
        assert client.wait_connected(10)
        generation = client.generation
        send(paho, f"{prefix}/x", [b"good", b"bad", b"after"])
        wait_for(lambda: got == [b"good", b"after"])
        assert client.generation == generation  # the connection went on
    finally:
        client.stop()


def test_keepalive_pings_keep_an_idle_connection(broker, prefix):
    client, got = subscriber(broker.port, (f"{prefix}/#",), keepalive=2)
    try:
        generation = client.generation
        time.sleep(5)  # the broker drops a client silent for 1.5 x keepalive
        assert client.connected and client.generation == generation and not got.disconnects
    finally:
        client.stop()


def test_the_brokers_keepalive_wins(broker, prefix):
    """Mosquitto caps keepalive at max_keepalive (120 s here) and says so in CONNACK."""
    client, _ = subscriber(broker.port, (f"{prefix}/#",), keepalive=600)
    try:
        assert client._keepalive == 120
    finally:
        client.stop()


def test_broker_restart_reconnects_and_resumes_the_session(prefix):
    directory = Path(tempfile.mkdtemp(prefix="phare-test-mqtt-"))
    directory.chmod(0o777)
    own = Broker(directory)
    own.start()
    client_id = f"restart-{uuid.uuid4().hex[:8]}"
    client = None
    try:
        client, got = subscriber(own.port, (f"{prefix}/#",), client_id, session_expiry=60)
        own.stop()
        wait_for(lambda: not client.connected and got.disconnects)
        own.start()  # same port, sessions restored from disk
        wait_for(lambda: client.connected, timeout=30)
        assert got.connects == [False, True]
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        pub.connect("127.0.0.1", own.port)
        pub.loop_start()
        send(pub, f"{prefix}/x", [b"after the restart"])
        pub.disconnect()
        pub.loop_stop()
        wait_for(lambda: got.payloads() == [b"after the restart"])
    finally:
        if client is not None:
            client.stop()
        own.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_connection_refused_is_retried_until_the_broker_is_there(prefix):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Subscriber(Options("127.0.0.1", port, "nobody", (f"{prefix}/#",),
                                reconnect_min=0.1, reconnect_max=0.2), lambda *_: None)
    client.start()
    try:
        assert not client.wait_connected(0.5)
        assert client._thread.is_alive()
    finally:
        started = time.monotonic()
        client.stop()
        assert time.monotonic() - started < 2 and not client._thread.is_alive()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a certificate")
def test_tls(prefix):
    directory = Path(tempfile.mkdtemp(prefix="phare-test-mqtts-"))
    directory.chmod(0o777)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, capture_output=True)
    for name in ("key.pem", "cert.pem"):
        (directory / name).chmod(0o644)  # mosquitto reads them after dropping root
    own = Broker(directory)
    own.conf.write_text(own.conf.read_text() + f"certfile {directory / 'cert.pem'}\n"
                        f"keyfile {directory / 'key.pem'}\n")
    own.start()
    client = None
    try:
        context = ssl.create_default_context(cafile=str(directory / "cert.pem"))
        client, got = subscriber(own.port, (f"{prefix}/#",), tls=context)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        pub.tls_set(ca_certs=str(directory / "cert.pem"))
        pub.connect("127.0.0.1", own.port)
        pub.loop_start()
        payloads = [f"tls{i}".encode() * 50 for i in range(500)]
        send(pub, f"{prefix}/x", payloads)
        wait_for(lambda: len(got.messages) == 500)
        assert got.payloads() == payloads
        # Acknowledgements written from another thread while the receive thread reads.
        done = threading.Event()
        sender = threading.Thread(target=lambda: (
            client.ack([m[2] for m in got.messages], client.generation), done.set()))
        sender.start()
        send(pub, f"{prefix}/x", [b"more"])
        sender.join(5)
        assert done.is_set()
        wait_for(lambda: len(got.messages) == 501)
        pub.disconnect()
        pub.loop_stop()
    finally:
        if client is not None:
            client.stop()
        own.stop()
        shutil.rmtree(directory, ignore_errors=True)
