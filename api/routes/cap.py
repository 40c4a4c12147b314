"""CAP 1.2 messages of fire and flood alerts: an Atom feed and each message's XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from alerts.cap import cap_time
from api.deps import Conn, Reader
from api.queries.alerts import get_cap_xml, list_cap_messages

router = APIRouter(prefix="/cap", tags=["cap"])

CAP_MEDIA_TYPE = "application/cap+xml"
ATOM = "http://www.w3.org/2005/Atom"


@router.get("/feed", response_class=Response,
            responses={200: {"content": {"application/atom+xml": {}}}})
def cap_feed(request: Request, conn: Conn, principal: Reader,
             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    """An Atom feed of the latest CAP messages of the key's tenants, newest first."""
    rows = list_cap_messages(conn, scope=principal.scope, limit=limit)
    feed = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(feed, "id").text = str(request.url_for("cap_feed"))
    ET.SubElement(feed, "title").text = "Phare — alertes CAP (incendie, inondation)"
    updated = rows[0]["sent"] if rows else datetime.now(UTC)
    ET.SubElement(feed, "updated").text = cap_time(updated)
    ET.SubElement(feed, "link", rel="self", href=str(request.url))
    for row in rows:
        entry = ET.SubElement(feed, "entry")
        href = str(request.url_for("cap_message", identifier=row["identifier"]))
        ET.SubElement(entry, "id").text = href
        ET.SubElement(entry, "title").text = f"{row['msg_type']} — {row['message']}"
        ET.SubElement(entry, "updated").text = cap_time(row["sent"])
        ET.SubElement(entry, "category", term=row["msg_type"])
        ET.SubElement(entry, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=href)
        author = ET.SubElement(entry, "author")
        ET.SubElement(author, "name").text = row["tenant"]
    ET.indent(feed)
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml")


@router.get("/{identifier}.xml", response_class=Response,
            responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, 404: {"description": "unknown"}})
def cap_message(conn: Conn, principal: Reader, identifier: str) -> Response:
    """One CAP 1.2 message; 404 if it does not exist or is outside the key's scope."""
    xml = get_cap_xml(conn, scope=principal.scope, identifier=identifier)
    if xml is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no CAP message '{identifier}'")
    return Response(xml.encode(), media_type=CAP_MEDIA_TYPE)
