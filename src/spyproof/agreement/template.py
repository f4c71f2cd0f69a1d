"""The commented agreement template ``spyproof agreement init`` prints."""

from __future__ import annotations

import json

from spyproof.agreement.clauses import BUILTIN

_HEAD = '''\
# No-spy agreement for spyproof (schema: docs/schema/agreement.schema.json).
# Check it with `spyproof agreement check FILE`; use it with
# `spyproof scan fw.bin --agreement FILE --out out/` (exit 1 when a clause fails).
schema_version = "1"

[agreement]
vendor = {vendor}
product = {product}
firmware_versions = []            # e.g. ["5.2.1", "5.2.*"]
# effective_from = 2026-01-01
# effective_until = 2027-12-31

[[parties]]
name = {vendor}
role = "vendor"                   # vendor | operator | evaluator | regulator | other

# Declared remote access: a matching finding becomes "declared" (NS-1 passes for it).
# [[remote_access]]
# service = "dropbear"            # daemon or protocol: dropbear, sshd, ssh, telnetd, uhttpd
# port = 22
# interface = "lan"               # lan | wan | all | console | an interface or address
# authentication = "key"          # key | password | key-or-password | none
# purpose = "operator maintenance"

# Declared accounts (login and superuser accounts; passwords are never declarable).
# [[accounts]]
# name = "root"
# uid0 = true
# purpose = "system administration"

# Declared outbound endpoints (NS-3): host names (*.example.com: its subdomains) or CIDRs.
# [[endpoints]]
# host = "*.update.example.com"
# ports = [443]
# protocol = "https"
# purpose = "firmware updates"
# data = ["model", "firmware version"]

[policy]
fail_severity = "high"            # a finding at or above this fails its clause
no_kev = true                     # NS-5: no vulnerability from CISA's KEV catalog
max_cvss = 9.0                    # NS-5: vulnerabilities at or above this CVSS score …
max_age_days = 90                 # … may stay unpatched this many days after publication
exempt_endpoint_classes = ["time", "dns"]   # NS-3: need no declaration
# required_hardening = {{ nx = 90.0, pie = 90.0, relro_full = 50.0, canary = 90.0 }}
# unsafe_call_budget = 50         # NS-6: ELF files importing unsafe libc calls

# The clauses judged (all seven built-in ones; reword them or narrow their checks here).
'''


def render_template(vendor: str, product: str) -> str:
    """A valid, commented agreement for ``vendor``/``product`` with the built-in clauses."""
    text = _HEAD.format(vendor=json.dumps(vendor), product=json.dumps(product))
    for c in BUILTIN.values():
        text += (f"\n[[clauses]]\nid = {json.dumps(c.id)}\ntitle = {json.dumps(c.title)}\n"
                 f"wording = {json.dumps(c.wording)}\n"
                 f"checks = {json.dumps(list(c.checks))}\n")
    return text
