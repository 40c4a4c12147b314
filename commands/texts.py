"""What operators read about a command's fate, in French (`message`) and English (`message_en`).

A command's `detail` holds a stable `reason` code, both sentences, and the facts they quote,
so that a client may word them its own way. Instants are written in French legal time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from devices.messages import format_ts

LOCAL_TZ = ZoneInfo("Europe/Paris")


def expired(*, expires_at: datetime, attempts: int, online: bool | None,
            last_seen: datetime | None) -> dict[str, Any]:
    """A command whose `expires` passed before the device acknowledged it."""
    if attempts == 0:
        fr = "la commande n'a pas pu être envoyée avant l'échéance"
        en = "the command could not be sent before its deadline"
    else:
        fr = "l'équipement n'a pas répondu avant l'échéance"
        en = "the device did not answer before the deadline"
    fr_facts, en_facts = _device_state(online, last_seen)
    fr_facts.append(f"échéance {_fr(expires_at)}")
    en_facts.append(f"deadline {_en(expires_at)}")
    if attempts:
        fr_facts.append(f"envoyée {_fois(attempts)}")
        en_facts.append(f"sent {_times(attempts)}")
    return {"reason": "expired", "message": f"{fr} ({' ; '.join(fr_facts)})",
            "message_en": f"{en} ({'; '.join(en_facts)})", "attempts": attempts,
            "last_seen": format_ts(last_seen) if last_seen else None}


def no_ack(*, attempts: int, online: bool | None, last_seen: datetime | None) -> dict[str, Any]:
    """A command sent as many times as allowed, never acknowledged."""
    fr_facts, en_facts = _device_state(online, last_seen)
    return {"reason": "no_ack",
            "message": f"l'équipement n'a accusé réception d'aucun des {attempts} envois"
                       + (f" ({' ; '.join(fr_facts)})" if fr_facts else ""),
            "message_en": f"the device acknowledged none of the {attempts} sends"
                          + (f" ({'; '.join(en_facts)})" if en_facts else ""),
            "attempts": attempts, "last_seen": format_ts(last_seen) if last_seen else None}


def superseded(*, at: datetime) -> dict[str, Any]:
    """A pending command replaced by a newer one of the same type to the same device (whose
    id the caller adds as `by`)."""
    return {"reason": "superseded",
            "message": f"remplacée par une commande plus récente ({_fr(at)})",
            "message_en": f"replaced by a newer command ({_en(at)})"}


def undeliverable(cause: str) -> dict[str, Any]:
    """A command no route can carry to its device (e.g. a LoRaWAN device without metadata)."""
    return {"reason": "undeliverable", "cause": cause,
            "message": "la commande ne peut pas être transmise à cet équipement "
                       "(configuration à compléter, voir « cause »)",
            "message_en": f"the command cannot be delivered to this device: {cause}"}


def _device_state(online: bool | None, last_seen: datetime | None) -> tuple[list[str], list[str]]:
    if last_seen is None:
        return ["équipement jamais entendu par la plateforme"], ["device never heard from"]
    if online is False:
        return [f"hors ligne depuis {_fr(last_seen)}"], [f"offline since {_en(last_seen)}"]
    return [f"dernier message reçu {_fr(last_seen)}"], [f"last message {_en(last_seen)}"]


def _fr(instant: datetime) -> str:
    local = instant.astimezone(LOCAL_TZ)
    return f"le {local:%d/%m/%Y} à {local:%H:%M}"


def _en(instant: datetime) -> str:
    return f"{instant.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} (Paris time)"


def _fois(n: int) -> str:
    return "une fois" if n == 1 else f"{n} fois"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"
