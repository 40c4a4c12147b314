"""The officials' pages (`/elus/{tenant}`) in real headless Chromium, against the real API.

The API runs with uvicorn in a thread, on the session's database; the page is loaded by
Chromium (`--dump-dom` for the DOM after its scripts ran, `--screenshot` for pictures of it).
The screenshots go to the test's temporary folder; with PHARE_UPDATE_DOCS_IMAGES=1 they
replace docs/images/officials-*.png, the pictures of docs/officials.md and the README.
Skipped when /usr/bin/chromium is missing (deploy/setup-system.sh installs it).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from psycopg.types.json import Jsonb

from api.main import create_app
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key
from tests.api.test_exports import add_alert, place
from tests.api.test_kpis import BRIOUDE, END, START, daily, set_metadata
from tests.conftest import ROOT, free_port, register_device

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGES = ROOT / "docs/images"
MAX_PAGE_BYTES = 500_000
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs /usr/bin/chromium (deploy/setup-system.sh)")


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def town(conn: psycopg.Connection, tenant: str) -> str:
    """A commune and its hamlet: lighting, a building, a leak, alerts handled and one open."""
    hamlet = f"{tenant}-h"
    add_tenant(conn, hamlet, "Hameau de Lachamp", parent=tenant)
    conn.execute("update tenants set name = 'Commune de Brioude' where slug = %s", (tenant,))
    rated = register_device(conn, tenant, "cab-1", "lighting_cabinet")
    place(conn, rated, *BRIOUDE)
    set_metadata(conn, rated, {"luminaires": 12, "luminaire_w": 70})
    daily(conn, rated, "energy_kwh", [4.5, 4.25, 4.75])
    other = register_device(conn, hamlet, "cab-2", "lighting_cabinet")
    place(conn, other, BRIOUDE[0] + 0.01, BRIOUDE[1] - 0.015)
    set_metadata(conn, other, {"installed_w": 2400})
    daily(conn, other, "energy_kwh", [18.0, 21.5, 19.0])
    school = register_device(conn, tenant, "ecole-1", "building_meter")
    place(conn, school, BRIOUDE[0] - 0.006, BRIOUDE[1] + 0.01)
    set_metadata(conn, school, {"baseline_kwh_per_day": 1500.0})
    daily(conn, school, "electricity_kwh", [1234.5, 1180.0, 1302.25])
    meter = register_device(conn, tenant, "eau-1", "water_meter")
    place(conn, meter, BRIOUDE[0] + 0.004, BRIOUDE[1] + 0.02)
    opened = datetime(2025, 12, 10, 6, tzinfo=UTC)
    add_alert(conn, meter, "water_leak", opened_at=opened, status="resolved",
              resolved_at=opened + timedelta(hours=30), params=Jsonb({"lost_m3_per_day": 36.0}))
    for device, minutes in ((rated, 7), (other, 12), (school, 45)):
        t = datetime(2025, 12, 11, 19, tzinfo=UTC)
        add_alert(conn, device, "cabinet_fault" if device != school else "device_offline",
                  opened_at=t, status="acknowledged", acknowledged_at=t + timedelta(minutes=minutes))
    add_alert(conn, meter, "device_offline", opened_at=datetime(2025, 12, 12, 18, tzinfo=UTC))
    return tenant


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args, url],
        capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Kpis(HTMLParser):
    """The text of every element marked `data-kpi`, and the local assets the page references."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.assets: set[str] = set()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        kpi = a.get("data-kpi")
        if kpi:
            self._open = kpi
            self.figures[kpi] = ""
        for name in ("src", "href"):
            link = a.get(name) or ""
            if link.startswith("/elus-static/") and (tag != "a"):
                self.assets.add(link)

    def handle_data(self, data: str) -> None:
        if self._open:
            self.figures[self._open] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def french(value: float | None, decimals: int) -> str:
    """The French way, written independently of the page's code: 12 345,6."""
    if value is None:
        return "non disponible"
    return f"{round(value, decimals) + 0.0:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


DECIMALS = {"kwh": 1, "m3": 1, "t_co2": 3}


def decimals(name: str) -> int:
    return next((d for suffix, d in DECIMALS.items() if name.endswith(suffix)), 0)


def test_the_overview_shows_the_api_figures_in_french(
        api_url: str, conn: psycopg.Connection, town: str, tmp_path: Path) -> None:
    key = create_api_key(conn, town, "viewer")
    period = {"from": START.isoformat(), "to": END.isoformat()}
    api = httpx.get(f"{api_url}/api/v1/kpis", params={"tenant": town, **period},
                    headers={"Authorization": f"Bearer {key}"}).json()
    url = f"{api_url}/elus/{town}?" + urllib.parse.urlencode({"key": key, **period})
    dom = chromium(tmp_path, url, "--dump-dom")

    page = Kpis()
    page.feed(dom)
    assert len(page.figures) == 21, page.figures
    for kpi, shown in page.figures.items():
        section, name = kpi.split(".")
        value = api[section]["figures"][name]["value"]
        assert shown == french(value, decimals(name)), kpi
    # The figures a reader checks first, as written by hand.
    assert page.figures["water.volume_lost_m3"] == "45,0"  # 36 m³ a day, repaired after 30 h
    assert page.figures["alerts.median_time_to_acknowledge_min"] == "12"
    assert page.figures["buildings.energy_measured_kwh"] == "3\u202f716,8"
    assert page.figures["lighting.energy_saved_kwh"] != "non disponible"
    assert "Commune de Brioude" in dom and "Données insuffisantes" in dom
    # Leaflet ran: 4 assets as circles and the open alert as a marker, with text alternatives.
    assert dom.count("leaflet-interactive") >= 4
    assert re.search(r'aria-label="Alerte Capteur muet \(ouverte\)"', dom)
    assert 'aria-label="Carte de 4 équipements' in dom

    weight = len(dom.encode())
    for asset in page.assets:
        response = httpx.get(api_url + asset)
        assert response.status_code == 200, asset
        weight += len(response.content)
    assert {"/elus-static/leaflet/leaflet.js", "/elus-static/map.js"} <= page.assets
    assert weight < MAX_PAGE_BYTES, weight
    print(f"page weight: {weight} bytes")

    # The tracked pictures change only when asked for (README, "Pictures").
    images = DOCS_IMAGES if os.environ.get("PHARE_UPDATE_DOCS_IMAGES") == "1" else tmp_path
    images.mkdir(parents=True, exist_ok=True)
    for name, extra in (("overview", {}), ("print", {"print": "1"})):
        shot = images / f"officials-{name}.png"
        target = url + ("&" + urllib.parse.urlencode(extra) if extra else "")
        chromium(tmp_path, target, f"--screenshot={shot}", "--window-size=1280,1600",
                 "--virtual-time-budget=3000")
        assert shot.stat().st_size > 10_000


def test_without_a_valid_key_the_page_asks_for_one(api_url: str, conn: psycopg.Connection,
                                                   town: str, tmp_path: Path) -> None:
    response = httpx.get(f"{api_url}/elus/{town}")
    assert response.status_code == 401
    assert "Cette page demande une clé d" in response.text and 'name="key"' in response.text
    assert httpx.get(f"{api_url}/elus/{town}", params={"key": "phk_nope"}).status_code == 401
    # A key of the hamlet does not open the commune's page.
    hamlet_key = create_api_key(conn, f"{town}-h", "viewer")
    assert httpx.get(f"{api_url}/elus/{town}", params={"key": hamlet_key}).status_code == 404
    # A valid key is kept in a cookie: the next visit needs no key in the address.
    key = create_api_key(conn, town, "viewer")
    with httpx.Client(base_url=api_url) as client:
        first = client.get(f"/elus/{town}", params={"key": key})
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/elus" in cookie
        assert client.get(f"/elus/{town}").status_code == 200


