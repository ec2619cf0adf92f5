"""shared.schema: the numbered SQL migrations on disk, read in order, and what the first one creates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.schema import MIGRATIONS_DIR, migrations, pending

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "shared" / "migrations"
NAME = re.compile(r"^(\d{4})_(.+)\.sql$")


def on_disk() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, found without the code under test."""
    found = []
    for path in MIGRATIONS.iterdir():
        if match := NAME.match(path.name):
            found.append((int(match.group(1)), match.group(2), path.read_text()))
    return sorted(found)


def test_migrations_dir_is_shared_migrations() -> None:
    assert MIGRATIONS_DIR.resolve() == MIGRATIONS.resolve()


def test_migrations_are_the_files_in_numeric_order() -> None:
    expected = on_disk()
    assert expected, "shared/migrations holds at least 0001"
    assert expected[0][:2] == (1, "init")
    assert [(m.version, m.name, m.sql) for m in migrations()] == expected


def test_pending_excludes_applied_versions() -> None:
    versions = [version for version, _, _ in on_disk()]
    assert [m.version for m in pending(set())] == versions
    assert [m.version for m in pending({1})] == [v for v in versions if v != 1]
    assert pending(set(versions)) == []


def test_numeric_order_and_names_in_a_temp_dir(tmp_path: Path) -> None:
    (tmp_path / "0010_tenth.sql").write_text("SELECT 10;")
    (tmp_path / "0002_second_one.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "notes.sql").write_text("not a migration")
    (tmp_path / "0003_draft.txt").write_text("not a migration")
    found = migrations(tmp_path)
    assert [(m.version, m.name, m.sql) for m in found] == [
        (1, "first", "SELECT 1;"),
        (2, "second_one", "SELECT 2;"),
        (10, "tenth", "SELECT 10;"),
    ]
    assert [m.version for m in pending({2}, tmp_path)] == [1, 10]


def test_duplicate_numbers_raise(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0001_also_first.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="duplicate migration numbers"):
        migrations(tmp_path)
    with pytest.raises(ValueError, match="duplicate migration numbers"):
        pending(set(), tmp_path)


def test_empty_dir_has_no_migrations(tmp_path: Path) -> None:
    assert migrations(tmp_path) == []


def test_first_migration_creates_the_pipeline_tables() -> None:
    sql = (MIGRATIONS / "0001_init.sql").read_text()
    created = re.findall(r"^\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql, flags=re.I | re.M)
    assert {"records", "location", "frequency", "availability"} <= set(created)
    assert len(created) == len(set(created))
