"""Rejected messages: what ingest could not store, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import Conn, DeviceManager, Reader, TenantFilter, get_settings
from api.models import ReasonCountsPublic, RejectedListPublic
from api.queries.rejected import count_by_reason, list_rejected
from api.queries.tenants import is_platform_operator
from ingest.replay import replay
from phare import db
from phare.settings import Settings
from phare.tenancy import audit

router = APIRouter(prefix="/rejected", tags=["rejected messages"])


@router.get("")
def read_rejected(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    reason: Annotated[str | None, Query(description="a reason code, e.g. unknown_device")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL bigint
) -> RejectedListPublic:
    """Rejections visible to the key, newest first; `count` is the total that match.

    Rejections whose topic named no known tenant are shown to root tenants' keys only.
    """
    items, total = list_rejected(
        conn, scope=principal.scope, operator=is_platform_operator(conn, principal=principal),
        tenant_id=tenant_id, reason=reason, limit=limit, offset=offset,
    )
    return RejectedListPublic(data=items, count=total)


@router.get("/counts")
def read_rejected_counts(conn: Conn, principal: Reader,
                         tenant_id: TenantFilter) -> ReasonCountsPublic:
    """How many visible rejections there are per reason."""
    counts = count_by_reason(conn, scope=principal.scope,
                             operator=is_platform_operator(conn, principal=principal),
                             tenant_id=tenant_id)
    return ReasonCountsPublic(data=counts, count=len(counts))


class ReplayRequest(BaseModel):
    """Which pending rejections to replay; all the key may see when empty."""

    reason: str | None = Field(None, description="only this reason, e.g. unknown_device",
                               pattern=r"^[a-z_]{1,40}$")
    ids: list[int] | None = Field(None, max_length=10_000, description="only these rejections")


class ReplayResult(BaseModel):
    messages: int = Field(description="distinct messages replayed")
    values_stored: int
    rejected_again: dict[str, int] = Field(description="what is still wrong, per reason")
    not_replayable: int = Field(description="payloads kept truncated, which cannot be replayed")


@router.post("/replay")
def replay_rejected(body: ReplayRequest, conn: Conn, principal: DeviceManager,
                    tenant_id: TenantFilter,
                    settings: Annotated[Settings, Depends(get_settings)]) -> ReplayResult:
    """Replays pending rejections of the key's tenants through ingest, once their cause is fixed
    (e.g. the unknown device registered). What is still wrong is rejected again, with today's
    reason. Rejections whose topic named no tenant are not replayed here.
    """
    tenant_ids = [tenant_id] if tenant_id is not None else sorted(principal.scope)
    # Ingest writes as the platform's role (readings, outbox, rollup marks); the selection
    # above is what keeps this to the key's tenants.
    with db.connect(settings) as platform:
        result = replay(platform, settings, tenant_ids=tenant_ids, reason=body.reason,
                        ids=body.ids)
    audit(conn, principal.actor, tenant_id=principal.tenant_id, action="rejected.replay",
          target=body.reason or "all",
          detail={"messages": result.messages, "values_stored": result.values_stored})
    return ReplayResult(messages=result.messages, values_stored=result.values_stored,
                        rejected_again=dict(result.rejected_again),
                        not_replayable=result.not_replayable)
