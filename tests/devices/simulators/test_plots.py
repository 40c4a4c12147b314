"""The pictures command: four PNG files drawn in-process from the default scenario."""

from __future__ import annotations

from pathlib import Path

from devices.simulators.plots import NAMES, main

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_command_writes_four_pngs(tmp_path: Path) -> None:
    main(["--scenario", "default", "--out", str(tmp_path), "--days", "6"])
    for name in NAMES:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG), name
        assert len(data) > 20_000, f"{name} is {len(data)} bytes: an empty picture?"
