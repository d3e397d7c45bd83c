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
