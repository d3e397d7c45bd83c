from pathlib import Path

import pytest

from ctoengine.db.migrate import DEFAULT_DIR, discover
from ctoengine.errors import MigrationError


def test_migrations_are_ordered_and_checksummed() -> None:
    ms = discover(DEFAULT_DIR)
    names = [m.name for m in ms]
    assert names == sorted(names)
    assert names[0].startswith("001_")
    assert all(len(m.checksum) == 64 for m in ms)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        discover(tmp_path / "nope")


def test_migrations_are_package_data() -> None:
    """Shipped inside the package (pyproject package-data), so a wheel's `ctoengine migrate` finds them."""
    import tomllib

    import ctoengine

    assert Path(ctoengine.__file__).parent / "db" / "migrations" == DEFAULT_DIR
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "db/migrations/*.sql" in data["tool"]["setuptools"]["package-data"]["ctoengine"]
    assert len(discover(DEFAULT_DIR)) >= 7
