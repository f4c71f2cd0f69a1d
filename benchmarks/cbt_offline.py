"""Run cve-bin-tool 3.4 fully offline (benchmark peer, run with cve-bin-tool's own venv).

cve-bin-tool refuses to start without a CVE database and its sqlite checker downloads
sqlite.org/changes.html when it is imported. For an identification benchmark neither is
needed: benchmarks/run.py gives it a database holding one placeholder record (so it
starts), and this wrapper answers every HTTP fetch with an empty body (so the sqlite
checker builds an empty source-id map and still matches "SQLite version x.y.z").
"""

import sys

import cve_bin_tool.util as util


def _offline(kind, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    return "" if kind == "text" else {}


util.make_http_requests = _offline

from cve_bin_tool.cli import main  # noqa: E402

sys.exit(main())
