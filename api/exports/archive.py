"""A full export of a tenant and the tenants below it, as a ZIP archive written as it is read.

Reversibility: everything a commune needs to leave Phare or to restore its data elsewhere, one
CSV file per table (`api/queries/exports.py: FULL_TABLES`), then `manifest.json` (rows, bytes
and SHA-256 of every file, the schema version) and `LISEZMOI.txt` (what each file holds, in
French). The archive is produced in one pass with a bounded buffer: ZIP members carry their
sizes in data descriptors, so nothing is held back to be measured, and a table of hundreds of
millions of rows streams like a small one. The caller holds the transaction (REPEATABLE READ,
`snapshot`), so every file is of the same instant.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from alerts.model import iso
from api.queries import exports as q
from phare import __version__
from phare.db import migration_files
from phare.tenancy import Actor, TenantError, audit

MEDIA_TYPE = "application/zip"
FORMAT = "phare-tenant-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
README = "LISEZMOI.txt"
# What the response holds back before sending: COPY hands over one row at a time.
FLUSH_BYTES = 256 * 1024

# (table, bytes of CSV written so far): called as the export goes, for progress bars.
Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class Root:
    """The tenant exported, and the ids of it and the tenants below it."""

    slug: str
    name: str
    tenant_ids: tuple[int, ...]


def snapshot(conn: psycopg.Connection) -> None:
    """Makes the caller's new transaction one consistent, read-only view for every table, whose
    instants are written in UTC and numbers to the last digit, whatever the server's settings."""
    conn.execute("set transaction isolation level repeatable read, read only")
    conn.execute("set local timezone = 'UTC'; set local datestyle = 'ISO, YMD'; "
                 "set local extra_float_digits = 1")


class _Sink:
    """Where zipfile writes: bytes kept until the stream takes them (no seek, no tell)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.pending = 0

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        self.pending += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.pending = 0
        return data


def _member(name: str, at: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def stream(conn: psycopg.Connection, root: Root, *, now: datetime, schema_version: int,
           progress: Progress | None = None) -> Iterator[bytes]:
    """The archive's bytes, in pieces of about `FLUSH_BYTES`; `conn` in the caller's
    transaction (see `snapshot`), allowed to read every row of `root.tenant_ids`."""
    sink = _Sink()
    files: list[dict[str, Any]] = []
    tenants = list(root.tenant_ids)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for table in q.FULL_TABLES:
            name = f"{table.name}.csv"
            digest, size, buffer = hashlib.sha256(), 0, bytearray()
            with zf.open(_member(name, now), "w", force_zip64=table.large) as member:
                copying, rows = q.copy_table(conn, table, tenants=tenants), 0
                while True:
                    try:
                        chunk = next(copying)
                    except StopIteration as done:
                        rows = done.value
                        break
                    buffer += chunk
                    if len(buffer) >= FLUSH_BYTES:
                        member.write(buffer)
                        digest.update(buffer)
                        size += len(buffer)
                        buffer.clear()
                        if progress is not None:
                            progress(table.name, size)
                        if sink.pending >= FLUSH_BYTES:
                            yield sink.take()
                member.write(buffer)
                digest.update(buffer)
                size += len(buffer)
            if progress is not None:
                progress(table.name, size)
            files.append({"name": name, "table": table.name, "rows": rows, "bytes": size,
                          "sha256": digest.hexdigest()})
            yield sink.take()
        manifest = build_manifest(root, files, now=now, schema_version=schema_version)
        zf.writestr(_member(MANIFEST, now),
                    json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n")
        zf.writestr(_member(README, now), readme(manifest).encode())
    yield sink.take()


def build_manifest(root: Root, files: Sequence[dict[str, Any]], *, now: datetime,
                   schema_version: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phare_version": __version__,
        "schema_version": schema_version,
        "exported_at": iso(now.replace(microsecond=0)),
        "tenant": {"slug": root.slug, "name": root.name},
        "files": list(files),
        "csv": {"encoding": "utf-8", "separator": ",", "header": True, "null": "empty cell",
                "empty_text": '""', "timestamps": "ISO 8601 in UTC: 2026-11-23 21:15:00+00",
                "json_columns": "JSON text", "bytes": "hexadecimal, \\x prefix"},
        "skipped_tables": dict(q.FULL_SKIPPED),
        "not_exported": ["API keys and their SHA-256 hashes (issue new keys after a restore)",
                         "webhook signing secrets (notification_routes.has_secret says which "
                         "routes had one)"],
    }


def readme(manifest: dict[str, Any]) -> str:
    """What the commune reads first, in French."""
    about = {t.name: t.about_fr for t in q.FULL_TABLES}
    tenant = manifest["tenant"]
    lines = [
        f"Export complet de « {tenant['name']} » ({tenant['slug']}) et des collectivités qui en",
        f"dépendent, produit par Phare {manifest['phare_version']} le {manifest['exported_at']}.",
        "",
        "Ce fichier contient toutes vos données et votre configuration : de quoi quitter",
        "Phare ou les restaurer sur une autre installation (réversibilité). Toutes les tables",
        "ont été lues au même instant.",
        "",
        "Contenu (un fichier CSV par table) :",
        "",
    ]
    for f in manifest["files"]:
        count = f"{f['rows']:,}".replace(",", "\u202f")
        lines.append(f"  {f['name']:<24} {count:>12} ligne{'s' if f['rows'] > 1 else ''}")
        lines.append(f"      {about[f['table']]}")
    lines += [
        "",
        "Format des fichiers CSV : UTF-8, séparateur virgule, une ligne d'en-tête. Une cellule",
        "vide signifie « pas de valeur » ; les dates sont en temps universel (UTC), au format",
        "2026-11-23 21:15:00+00 ; les colonnes metadata, params, detail… contiennent du JSON.",
        "Les équipements sont désignés par leur collectivité (tenant) et leur identifiant",
        "(device_id), comme dans l'API de Phare. Pour ouvrir un fichier dans un tableur,",
        "importez-le (LibreOffice : Fichier > Ouvrir, jeu de caractères UTF-8 ; Excel :",
        "Données > À partir d'un fichier texte/CSV) plutôt que de l'ouvrir d'un double clic.",
        "Les valeurs sont telles qu'enregistrées, sans retouche.",
        "",
        "Vérifier l'archive : manifest.json donne pour chaque fichier son nombre de lignes et",
        "son empreinte SHA-256 (commande : sha256sum readings.csv).",
        "",
        "Restaurer dans une autre installation de Phare : phare import tenant FICHIER.zip",
        "",
        "Ce qui n'est pas exporté, volontairement :",
        "  - les clés d'API et leurs empreintes : créez de nouvelles clés après la restauration ;",
        "  - les secrets de signature des webhooks (la colonne has_secret de",
        "    notification_routes.csv indique les destinataires qui en avaient un ; restaurés,",
        "    ils restent désactivés jusqu'à ce qu'on leur donne un nouveau secret) ;",
        "  - la file d'attente interne des règles d'alerte (alert_inbox), vidée en une seconde.",
        "",
    ]
    return "\n".join(lines)


def find_root(conn: psycopg.Connection, slug: str) -> Root:
    """Tenant `slug` and those below it, read as the database owner (the command line)."""
    row = conn.execute("select id, name, array(select tenant_subtree(id)) from tenants "
                       "where slug = %s", (slug,)).fetchone()
    if row is None:
        raise TenantError(f"no tenant '{slug}'")
    return Root(slug=slug, name=row[1], tenant_ids=tuple(row[2]))


def write_file(conn: psycopg.Connection, slug: str, path: Path, *, now: datetime,
               progress: Progress | None = None) -> dict[str, Any]:
    """`phare export tenant`: the archive of tenant `slug` written to `path` (through a
    temporary file beside it, renamed when complete); returns its manifest."""
    with conn.transaction():
        root = find_root(conn, slug)
        audit(conn, Actor.cli(), tenant_id=root.tenant_ids[0], action="tenant.export",
              target=slug, detail={"tenants": len(root.tenant_ids), "format": FORMAT,
                                   "file": str(path)})
    partial = path.with_name(path.name + ".partial")
    with conn.transaction(), partial.open("wb") as out:
        snapshot(conn)
        for piece in stream(conn, root, now=now, schema_version=migration_files()[-1][0],
                            progress=progress):
            out.write(piece)
    partial.replace(path)
    with zipfile.ZipFile(path) as zf:
        manifest: dict[str, Any] = json.loads(zf.read(MANIFEST))
    return manifest
