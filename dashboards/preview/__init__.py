"""Pictures of the Grafana dashboards without a Grafana server: a preview renderer.

It reads the JSON model Phare gives Grafana (`Dashboard.to_json()`: panels, `gridPos`, types,
field configuration), runs every panel's SQL against Phare's database with Grafana's macros
expanded by `dashboards.grafana.macros` (the expander the tests check the panels with), turns
the rows into data frames as Grafana's PostgreSQL data source does (`frames.py`), and draws the
grid with matplotlib in Grafana's dark theme (`panels.py`: a drawer per panel type;
`canvas.py`: pixels, text, legends, axes; `render.py`: the grid). Each picture says in its
corner that it is Phare's preview, not a capture of Grafana. `phare dashboards preview`
writes them (docs/dashboards.md, "Pictures").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dashboards.grafana import all_dashboards
from dashboards.preview.query import PreviewError, parse_instant
from dashboards.preview.render import NOTICE, Rendering, draw_dashboard, render_dashboard
from phare import db
from phare.settings import Settings

FILE_PREFIX = "grafana-"


@dataclass(frozen=True, slots=True)
class Written:
    """A picture written, and what its panels showed."""

    path: Path
    rendering: Rendering

    @property
    def empty(self) -> list[str]:
        return [p.title for p in self.rendering.panels if p.empty]

    @property
    def errors(self) -> list[str]:
        return [f"{p.title}: {p.error}" for p in self.rendering.panels if p.error]


def preview_all(settings: Settings, out: Path, *, keys: Sequence[str] = (),
                tenants: Sequence[str] = (), to: datetime | None = None,
                span: str | None = None) -> Iterator[Written]:
    """Draws every dashboard (or those of `keys`) into `out/grafana-<key>.png`."""
    boards = all_dashboards()
    unknown = set(keys) - {b.key for b in boards}
    if unknown:
        raise PreviewError(f"no dashboard {', '.join(sorted(unknown))}; there are "
                           + ", ".join(b.key for b in boards))
    with db.connect(settings, autocommit=True) as conn:
        for board in boards:
            if keys and board.key not in keys:
                continue
            rendering = render_dashboard(conn, board.to_json(), to=to, span=span,
                                         tenants=tenants)
            yield Written(rendering.save(out / f"{FILE_PREFIX}{board.key}.png"), rendering)


__all__ = ["NOTICE", "PreviewError", "Rendering", "Written", "draw_dashboard", "parse_instant",
           "preview_all", "render_dashboard"]
