"""MQTT credentials and topic ACLs for Mosquitto, generated from the devices table.

Each registered device gets the user `{tenant}/{device_id}`; one ACL `pattern` confines every
device user to its own topics (contract §1.1): it may publish telemetry, event, status, cmd/ack
and senml under `phare/v1/{tenant}/{device_id}/` and read only its `cmd`. Phare's own processes
get service users (`SERVICE_ACLS`). Passwords are generated once, printed once and stored as
Mosquitto's PBKDF2-SHA512 `$7$` hashes; `sync` keeps existing hashes, adds users that are new,
drops users whose device is gone, and writes `passwd` and `acl` atomically. Mosquitto rereads
both on SIGHUP (`reload`). docs/mqtt-security.md describes the deployment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import signal
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from phare.errors import PhareError

TOPIC_ROOT = "phare/v1"
# What a device publishes (contract §1.1), relative to phare/v1/{tenant}/{device_id}/.
DEVICE_WRITES = ("telemetry", "event", "status", "cmd/ack", "senml")
DEVICE_READS = ("cmd",)
# Mosquitto's own defaults for `mosquitto_passwd` (2.0): 12 bytes of salt, 101 rounds.
HASH_ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 24  # 32 URL-safe characters

PASSWD_FILE = "passwd"
ACL_FILE = "acl"


def _shared(filters: Iterable[str]) -> tuple[str, ...]:
    """The filters and their `$share/{group}/…` forms (workers share subscriptions)."""
    filters = tuple(filters)
    return filters + tuple(f"$share/+/{f}" for f in filters)


# Service users: name -> (topics they may read, topics they may write).
SERVICE_ACLS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # `phare ingest`: native topics and both network servers' uplinks; publishes nothing.
    "phare-ingest": (_shared((f"{TOPIC_ROOT}/#", "v3/+/devices/+/up",
                              "application/+/device/+/event/+")), ()),
    # The commands dispatcher: commands to native devices and LoRaWAN downlinks; reads the
    # network servers' downlink acknowledgements (commands/network_acks.py).
    "phare-commands": (
        _shared(("v3/+/devices/+/down/ack", "v3/+/devices/+/down/nack",
                 "v3/+/devices/+/down/failed", "application/+/device/+/event/ack")),
        (f"{TOPIC_ROOT}/+/+/cmd", "v3/+/devices/+/down/push",
         "application/+/device/+/command/down"),
    ),
    # `phare alerts run`: alert notifications on phare/v1/{tenant}/alerts.
    "phare-alerts": ((), (f"{TOPIC_ROOT}/+/alerts",)),
    # A LoRaWAN network server's MQTT integration, when it publishes into this broker.
    "phare-lorawan": (
        ("v3/+/devices/+/down/push", "application/+/device/+/command/down"),
        ("v3/+/devices/+/up", "v3/+/devices/+/down/ack", "v3/+/devices/+/down/nack",
         "v3/+/devices/+/down/failed", "application/+/device/+/event/+"),
    ),
}


class MqttAuthError(PhareError):
    """MQTT credentials cannot be generated, written or reloaded."""


def device_username(tenant: str, device_id: str) -> str:
    """The MQTT user of a device: `{tenant}/{device_id}` (the ACL pattern's `%u`)."""
    return f"{tenant}/{device_id}"


# --- password hashes -----------------------------------------------------------------------

def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = HASH_ITERATIONS) -> str:
    """Mosquitto's `$7$` hash of `password`: `$7$rounds$b64(salt)$b64(PBKDF2-SHA512)`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return (f"$7${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a `$7$` hash (as Mosquitto checks it)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt, expected = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# --- files ---------------------------------------------------------------------------------

def read_password_file(path: Path) -> dict[str, str]:
    """username -> hash of a Mosquitto password file ({} when it does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            user, sep, encoded = line.partition(":")
            if sep:
                entries[user] = encoded
    return entries


def render_password_file(entries: Mapping[str, str]) -> str:
    return "".join(f"{user}:{entries[user]}\n" for user in sorted(entries))


def render_acl() -> str:
    """The ACL file: one block per service user, then the pattern every device user gets."""
    lines = ["# Generated by `phare mqtt credentials sync`: do not edit, rerun it.", ""]
    for user, (reads, writes) in SERVICE_ACLS.items():
        lines.append(f"user {user}")
        lines += [f"topic read {t}" for t in reads]
        lines += [f"topic write {t}" for t in writes]
        lines.append("")
    lines.append("# Device users are {tenant}/{device_id}: each reaches only its own topics.")
    lines += [f"pattern write {TOPIC_ROOT}/%u/{t}" for t in DEVICE_WRITES]
    lines += [f"pattern read {TOPIC_ROOT}/%u/{t}" for t in DEVICE_READS]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        if os.geteuid() == 0:  # root writes for the broker: the files belong to the directory's owner
            st = path.parent.stat()
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- sync ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SyncResult:
    """What `sync` changed: new credentials (username -> password, shown once), removed users."""

    created: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    kept: int = 0


def device_usernames(conn: psycopg.Connection) -> list[str]:
    """The MQTT user of every registered device, all tenants."""
    try:
        rows = conn.execute("select t.slug, d.id from devices d join tenants t on t.id = d.tenant_id "
                            "order by t.slug, d.id").fetchall()
    except psycopg.Error as exc:
        raise MqttAuthError(f"cannot read the devices: {exc}") from exc
    return [device_username(slug, device_id) for slug, device_id in rows]


def sync(directory: Path, usernames: Iterable[str], *, rotate: Iterable[str] = (),
         mode: int = 0o640) -> SyncResult:
    """Write `passwd` and `acl` in `directory` for the service users and `usernames`.

    Users already in the password file keep their hash, unless named in `rotate`; new (and
    rotated) users get a new password, returned once; users no longer wanted are removed.
    """
    wanted = list(SERVICE_ACLS) + [u for u in usernames if u not in SERVICE_ACLS]
    rotate = set(rotate)
    unknown = rotate - set(wanted)
    if unknown:
        raise MqttAuthError(f"no such MQTT user: {', '.join(sorted(unknown))}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        existing = read_password_file(directory / PASSWD_FILE)
        entries: dict[str, str] = {}
        created: dict[str, str] = {}
        for user in wanted:
            if user in existing and user not in rotate:
                entries[user] = existing[user]
            else:
                created[user] = generate_password()
                entries[user] = hash_password(created[user])
        _write_atomically(directory / PASSWD_FILE, render_password_file(entries), mode)
        _write_atomically(directory / ACL_FILE, render_acl(), mode)
    except OSError as exc:
        raise MqttAuthError(f"cannot write MQTT credentials in {directory}: {exc}") from exc
    removed = tuple(sorted(set(existing) - set(entries)))
    return SyncResult(created=created, removed=removed, kept=len(entries) - len(created))


def reload(pid_file: Path) -> int:
    """Send SIGHUP to the Mosquitto of `pid_file` so it rereads passwd and acl; its pid."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        raise MqttAuthError(f"cannot reload Mosquitto from {pid_file}: {exc}") from exc
    return pid
