"""Recording files: duration off the WAV, paths kept inside the folder, old day folders."""

from __future__ import annotations

import wave
from datetime import date
from pathlib import Path

from ctoengine.quality.files import delete, inside, old_day_folders, wav_info


def _wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))


def test_duration_and_size_of_a_finished_wav(tmp_path: Path) -> None:
    f = tmp_path / "2026-11-26" / "c1-rec1.wav"
    _wav(f, 2.5)
    assert wav_info(f) == (44 + 40000, 2.5)


def test_a_header_never_updated_is_measured_by_the_size(tmp_path: Path) -> None:
    f = tmp_path / "x.wav"
    _wav(f, 1.0)
    data = bytearray(f.read_bytes())
    data[40:44] = b"\x00\x00\x00\x00"  # the data chunk's size, as before Asterisk closes the file
    f.write_bytes(bytes(data))
    assert wav_info(f) == (16044, 1.0)


def test_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    assert inside(tmp_path, "2026-11-26/a.wav") == tmp_path.resolve() / "2026-11-26" / "a.wav"
    assert inside(tmp_path, "../etc/passwd") is None
    assert inside(tmp_path, "/etc/passwd") is None
    assert inside(tmp_path, ".") is None


def test_delete_removes_the_empty_day_folder_only(tmp_path: Path) -> None:
    a, b = tmp_path / "2026-11-26" / "a.wav", tmp_path / "2026-11-26" / "b.wav"
    _wav(a, 0.1)
    _wav(b, 0.1)
    delete(a)
    assert not a.exists() and b.parent.is_dir()
    delete(b)
    assert not b.parent.exists()


def test_old_day_folders(tmp_path: Path) -> None:
    for name in ("2026-01-01", "2026-06-30", "2026-07-01", "notes", "2026-13-40"):
        (tmp_path / name).mkdir()
    assert [p.name for p in old_day_folders(tmp_path, date(2026, 7, 1))] == ["2026-01-01", "2026-06-30"]
    assert old_day_folders(tmp_path / "missing", date(2026, 7, 1)) == []
