"""The dashboards as values: unique keys, the catalogue's names, and docs that cover them."""

from __future__ import annotations

import re
from pathlib import Path

from dashboards.grafana import all_dashboards
from dashboards.grafana.labels import EVENT_LABELS, KIND_COLORS, KIND_LABELS
from devices.catalogue import KINDS
from tests.dashboards.test_queries import PANELS, tables_read

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboards.md"


def test_keys_and_uids_are_unique() -> None:
    boards = all_dashboards()
    assert len({d.uid for d in boards}) == len(boards)
    for board in boards:
        keys = [p.key for p in board.panels]
        assert len(keys) == len(set(keys)), board.key
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", k) for k in keys)


def test_labels_cover_the_catalogue() -> None:
    assert set(KIND_LABELS) == set(KINDS) == set(KIND_COLORS)
    event_types = {t for k in KINDS.values() for t in k.event_types}
    assert event_types <= set(EVENT_LABELS)


def test_docs_describe_every_dashboard_panel_and_setting() -> None:
    text = DOCS.read_text()
    for board, panel in PANELS:
        assert f"`{board.uid}`" in text, board.uid
        assert f"`{panel.key}`" in text, f"{board.key}/{panel.key}"
    for name in ("PHARE_GRAFANA_DATABASE_URL", "PHARE_GRAFANA_URL", "PHARE_GRAFANA_TOKEN",
                 "PHARE_GRAFANA_DATABASE_PASSWORD", "phare.tenant_ids"):
        assert name in text, name


def test_docs_grant_every_table_the_panels_read() -> None:
    """The read-only role of docs/dashboards.md may read every table a panel reads."""
    grant = re.search(r"grant select on ([^;]+);", DOCS.read_text(), re.IGNORECASE)
    assert grant is not None
    granted = {name.strip().split(".")[-1] for name in grant.group(1).split(",")}
    granted = {g.split()[0] for g in granted}
    needed = {t for _, p in PANELS for t in tables_read(p)} | {"tenants"}
    assert needed == granted
