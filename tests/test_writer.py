"""Atomic report writing: whole or absent, and readable like any file the user writes."""

from __future__ import annotations

import os
import stat

from spyproof.report.writer import write_text_atomic


def test_written_file_has_the_umask_mode_and_no_temp_left(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(old)
    st = (tmp_path / "r.json").stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_stricter_umask_is_respected(tmp_path):
    old = os.umask(0o077)
    try:
        write_text_atomic(tmp_path / "r.json", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o600
