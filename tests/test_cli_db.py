"""``spyproof db import|status|update`` as a user meets them: exit codes, one-line errors,
the --db / $SPYPROOF_DB / default-location rules, JSON output. No network: the update
tests point --mirror at a closed local port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "vulns"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
KEV = DATA / "kev" / "known_exploited_vulnerabilities.json"
EPSS = DATA / "epss" / "epss_scores-2024-04-01.csv"


def spyproof(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_import_then_status(tmp_path):
    db = tmp_path / "kb.sqlite"
    proc = spyproof("db", "import", str(DATA / "osv"), str(NVD), str(KEV), str(EPSS),
                    "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "nvd: 3 records" in proc.stdout
    st = spyproof("db", "status", "--db", str(db), "--json")
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["vulnerabilities_by_source"] == {"nvd": 3, "osv": 3}
    assert status["counts"]["kev"] == 2
    assert {s["name"] for s in status["sources"]} == {"osv", "nvd", "kev", "epss"}
    assert status["schema_version"] >= 1 and status["last_import"]
    human = spyproof("db", "status", "--db", str(db))
    assert human.returncode == 0 and "schema version" in human.stdout


def test_reimport_is_idempotent(tmp_path):
    db = tmp_path / "kb.sqlite"
    assert spyproof("db", "import", str(NVD), "--db", str(db)).returncode == 0
    again = spyproof("db", "import", str(NVD), "--db", str(db), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["imports"][0]["written"] == 0


def test_not_a_feed_is_one_line_and_exit_2_but_others_import(tmp_path):
    db = tmp_path / "kb.sqlite"
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    proc = spyproof("db", "import", str(junk), str(KEV), "--db", str(db))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "notes.txt" in line and "not a vulnerability feed" in line
    st = json.loads(spyproof("db", "status", "--db", str(db), "--json").stdout)
    assert st["counts"]["kev"] == 2


def test_spyproof_db_environment_variable(tmp_path):
    db = tmp_path / "env.sqlite"
    proc = spyproof("db", "import", str(KEV), env={"SPYPROOF_DB": str(db)})
    assert proc.returncode == 0, proc.stderr
    assert db.is_file()


def test_default_location_is_the_user_data_dir(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert spyproof("db", "import", str(KEV), env=env).returncode == 0
    assert (tmp_path / "xdg" / "spyproof" / "kb.sqlite").is_file()


def test_status_of_missing_db_is_one_line(tmp_path):
    proc = spyproof("db", "status", "--db", str(tmp_path / "none.sqlite"))
    assert proc.returncode == 2
    assert "no knowledge base yet" in one_error_line(proc)


def test_newer_schema_is_refused(tmp_path):
    import sqlite3

    db = tmp_path / "kb.sqlite"
    assert spyproof("db", "import", str(KEV), "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    proc = spyproof("db", "status", "--db", str(db))
    assert proc.returncode == 2
    assert "schema version 999" in one_error_line(proc)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_update_offline_is_one_clear_line_and_leaves_db_alone(tmp_path):
    db = tmp_path / "kb.sqlite"
    assert spyproof("db", "import", str(KEV), "--db", str(db)).returncode == 0
    before = db.read_bytes()
    proc = spyproof("db", "update", "--db", str(db), "--feed", "kev", "--mirror",
                    f"kev=http://127.0.0.1:{_closed_port()}")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "network access" in line and "spyproof db import" in line
    assert db.read_bytes() == before


def test_update_rejects_a_bad_mirror_option(tmp_path):
    proc = spyproof("db", "update", "--db", str(tmp_path / "kb.sqlite"), "--mirror", "kev")
    assert proc.returncode == 2
    assert "FEED=BASE_URL" in one_error_line(proc)
