"""End to end on the bundled sample firmware (examples/sample-firmware): the image `make
demo` scans. Its root filesystem holds real Debian 12 mipsel binaries whose upstream
versions are known, so identification is checked exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {  # Debian 12 package -> upstream version (see README, sample firmware)
    "busybox": "1.35.0", "dropbear": "2022.83", "dnsmasq": "2.90", "glibc": "2.36",
    "openssl": "3.0.20", "zlib": "1.2.13",
}


@pytest.fixture(scope="module")
def demo_scan(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    image = work / "demo.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)], check=True,
                   capture_output=True)
    out = work / "out"
    proc = subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return image, out


def test_components_have_exact_upstream_versions(demo_scan):
    _, out = demo_scan
    report = json.loads((out / "report.json").read_text())
    found = {c["name"]: c for c in report["components"]}
    for name, version in EXPECTED.items():
        assert found[name]["version"] == version, name
        assert found[name]["cpe"] and found[name]["purl"]
        ev = found[name]["evidence"][0]
        assert ev["path"] and ev["sha256"] and ev["offset"] is not None and ev["text"]
        assert ev["rule"].startswith(f"{name}-")  # the fingerprint pattern that fired
    assert not [c for c in report["components"] if c["name"] in EXPECTED
                and c["version"] != EXPECTED[c["name"]]]
    # the gaps are visible: libm/libresolv carry no version string
    assert any(p.endswith("lib/libm.so.6") for p in report["unclaimed_elf"])


def test_sbom_is_valid_cyclonedx_1_6_with_evidence(demo_scan):
    image, out = demo_scan
    text = (out / "sbom.cdx.json").read_text()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    meta = bom["metadata"]["component"]
    import hashlib

    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    assert {"alg": "SHA-256", "content": digest} in meta["hashes"]
    dropbear = next(c for c in bom["components"] if c["name"] == "dropbear")
    occ = dropbear["evidence"]["occurrences"]
    assert occ and all("location" in o for o in occ)


def test_sbom_command_spdx(demo_scan, tmp_path):
    image, _ = demo_scan
    target = tmp_path / "sbom.spdx.json"
    proc = subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "sbom", str(image),
                           "-o", str(target), "--format", "spdx"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(target.read_text())
    assert doc["spdxVersion"] == "SPDX-2.3"
    names = {p["name"] for p in doc["packages"]}
    assert set(EXPECTED) <= names
