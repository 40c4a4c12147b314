"""Webhook deliveries: a JSON POST signed with HMAC-SHA256 over the exact body.

Headers: `X-Phare-Signature: sha256=<hex digest of the body under the route's secret>`,
`X-Phare-Event` (opened, escalated, …) and `X-Phare-Delivery` (the notification_log id, the
same on every retry, so a receiver can drop duplicates). A 2xx answer is a delivery; 408, 429
and 5xx answers, timeouts and connection errors are retried; other 4xx are not.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from alerts.errors import DeliveryError

SIGNATURE_HEADER = "X-Phare-Signature"
_RETRYABLE = {408, 425, 429}


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(url: str, body: bytes, *, secret: str | None, event: str, delivery_id: int,
         timeout: float, client: httpx.Client | None = None) -> None:
    """POSTs `body` to `url`; raises DeliveryError when it was not accepted."""
    headers = {"Content-Type": "application/json", "User-Agent": "Phare-Alerts/1",
               "X-Phare-Event": event, "X-Phare-Delivery": str(delivery_id)}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                response = own.post(url, content=body, headers=headers)
        else:
            response = client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"no answer from {url} within {timeout:g} s") from exc
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"invalid webhook URL {url!r}: {exc}", permanent=True) from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"cannot reach {url}: {exc}") from exc
    if response.is_success:
        return
    status = response.status_code
    permanent = 400 <= status < 500 and status not in _RETRYABLE
    raise DeliveryError(f"{url} answered {status} {response.reason_phrase}", permanent=permanent)
