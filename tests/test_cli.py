"""The `phare` command (contract §4), run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import env_for


def phare(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from phare.cli import main; main()", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=60)


@pytest.fixture
def test_env(settings):
    return env_for(settings)


def test_config_prints_settings_with_secrets_masked():
    out = phare("config", env={"PHARE_DATABASE_URL": "postgresql://u:s3cret@db:5432/x",
                               "PHARE_MQTT_PASSWORD": "hunter2"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "PHARE_DATABASE_URL=postgresql://u:********@db:5432/x" in lines
    assert "PHARE_MQTT_PASSWORD=********" in lines
    assert any(line.startswith("PHARE_MQTT_URL=mqtt://") for line in lines)
    assert "s3cret" not in out.stdout and "hunter2" not in out.stdout


def test_invalid_setting_is_explained():
    out = phare("config", env={"PHARE_MQTT_URL": "http://nope"})
    assert out.returncode == 2
    assert "PHARE_MQTT_URL must look like mqtt://" in out.stderr


def test_production_refuses_the_development_password():
    out = phare("config", env={"PHARE_ENV": "production",
                               "PHARE_DATABASE_URL": "postgresql://phare:phare@db/phare"})
    assert out.returncode == 2 and "development password" in out.stderr


def test_migrate_is_idempotent(test_env):
    out = phare("migrate", env=test_env)
    assert out.returncode == 0 and "schema is up to date" in out.stdout


def test_tenant_add_is_idempotent_and_apikey_is_on_the_last_line(test_env, conn):
    for _ in range(2):
        out = phare("tenant", "add", "cli-epci", "--name", "EPCI de test", env=test_env)
        assert out.returncode == 0, out.stderr
    out = phare("tenant", "add", "cli-commune", "--name", "Commune", "--parent", "cli-epci",
                env=test_env)
    assert out.returncode == 0, out.stderr
    parent = conn.execute("select p.slug from tenants c join tenants p on p.id = c.parent_id "
                          "where c.slug = 'cli-commune'").fetchone()
    assert parent == ("cli-epci",)
    assert conn.execute("select count(*) from tenants where slug = 'cli-epci'").fetchone() == (1,)

    out = phare("apikey", "add", "--tenant", "cli-commune", "--role", "admin", env=test_env)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("phk_") and len(key) > 40


def test_unknown_parent_and_bad_role_are_explained(test_env):
    out = phare("tenant", "add", "orphan", "--name", "x", "--parent", "nobody", env=test_env)
    assert out.returncode == 1 and "parent tenant 'nobody' does not exist" in out.stderr
    out = phare("apikey", "add", "--tenant", "orphan-not-there", "--role", "admin", env=test_env)
    assert out.returncode == 1 and "does not exist" in out.stderr
    out = phare("tenant", "add", "Bad_Slug", "--name", "x", env=test_env)
    assert out.returncode == 1 and "must match" in out.stderr
