"""``equiv/report.html``: the equivalence report as one self-contained page.

Same rules as the scan's HTML report (``spyproof.report.html``): Python prepares a plain
view, the Jinja2 template only lays it out with autoescape on (every path and string came
out of the firmware), the CSS is inline and pinned by a Content-Security-Policy hash, no
script runs and nothing is fetched. Same report in, same bytes out.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from spyproof.equiv.model import EquivReport, FileComparison
from spyproof.report.html import visible
from spyproof.report.writer import write_text_atomic

TEMPLATES = Path(__file__).resolve().parents[1] / "report" / "templates"
LISTED_SAME = 2000  # identical paths listed by name; past that only counted

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;
color:#1d232a;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #d6dbe0;padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88em;
overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{text-align:left;
vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #e6e9ec}
th{background:#f4f6f8;font-weight:600}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:.3rem;font-weight:700;
text-transform:uppercase;letter-spacing:.04em}
.identical{background:#dff3e4;color:#155724}.equivalent{background:#e3eefc;color:#0b3d91}
.different,.only_in_a,.only_in_b{background:#fbe3e4;color:#8a1c23}
.tag{padding:.05rem .4rem;border-radius:.25rem;font-size:.85em;white-space:nowrap}
.card{border:1px solid #d6dbe0;border-radius:.4rem;padding:.6rem .9rem;margin:.8rem 0}
.muted{color:#5c6670}ul{margin:.3rem 0;padding-left:1.3rem}
.counts td{text-align:right}.counts td:first-child{text-align:left}
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals.update(visible=visible)
    return env.get_template("equiv.html.j2")


def _order(f: FileComparison) -> tuple:
    rank = {"different": 0, "only_in_a": 1, "only_in_b": 1, "equivalent": 2, "identical": 3}
    return (rank[f.status], f.path.count("/"), f.path)


def _view(report: EquivReport) -> dict[str, Any]:
    files = sorted(report.files, key=_order)
    return {
        "r": report,
        "different": [f for f in files if f.status == "different"],
        "only_a": [f for f in files if f.status == "only_in_a"],
        "only_b": [f for f in files if f.status == "only_in_b"],
        "equivalent": [f for f in files if f.status == "equivalent"],
        "identical": [f for f in files if f.status == "identical"][:LISTED_SAME],
        "identical_more": max(0, report.summary.identical - LISTED_SAME),
        "css": Markup(CSS),
        "csp": f"default-src 'none'; style-src {_csp_hash(CSS)}; img-src 'none'; "
               "base-uri 'none'; form-action 'none'",
    }


def render_html(report: EquivReport) -> str:
    return _template().render(**_view(report))


def write_html(report: EquivReport, path: Path) -> None:
    write_text_atomic(path, render_html(report))
