"""`phare demo`, the README's main command, end to end on the test database and broker."""

import re
import subprocess
import sys

import pytest

from devices.catalogue import KINDS
from tests.conftest import env_for, free_port

pytestmark = pytest.mark.slow


def test_demo_stores_and_serves_every_family(settings):
    env = env_for(settings, PHARE_API_PORT=str(free_port()), PHARE_INGEST_CLIENT_ID="demo-test")
    out = subprocess.run(
        [sys.executable, "-c", "from phare.cli import main; main()", "demo", "--days", "1",
         "--no-serve"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    text = out.stdout
    for kind in KINDS:
        stored = re.search(rf"^  {kind}\s+(\d+)\s+([\d,]+)", text, re.M)
        assert stored, f"{kind} missing from the summary:\n{text}"
        assert int(stored[1]) > 0 and int(stored[2].replace(",", "")) > 0
        served = re.search(rf"^  {kind}\s+\S+ \S+: (\d+) points", text, re.M)
        assert served and int(served[1]) > 0, f"{kind} not served by the API:\n{text}"
    assert re.search(r"^  unknown_device\s+[1-9]", text, re.M)
    assert re.search(r"^  invalid_json\s+[1-9]", text, re.M)
    assert "Authorization: Bearer phk_" in text
    # The jobs ran once over the simulated days, and the rules engine saw them as they came.
    rollups = re.search(r"^  rollups\s+ok\s+(\d+) rows", text, re.M)
    assert rollups and int(rollups[1]) > 0, text
    assert re.search(r"^  (lighting|leaks|energy)\s+ok", text, re.M), text
    assert "Alerts, per type and status:" in text
    assert not re.search(r"^  \S+\s+failed", text, re.M), text
