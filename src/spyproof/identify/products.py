"""Product identity (canonical name -> CPE vendor:product and purl), read from data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from packageurl import PackageURL


@dataclass(frozen=True)
class Product:
    name: str
    cpe_vendor: str
    cpe_product: str
    purl_name: str
    source: str


@cache
def products() -> dict[str, Product]:
    raw = yaml.safe_load(resources.files("spyproof.data").joinpath("products.yaml").read_text())
    out: dict[str, Product] = {}
    for name, spec in raw["products"].items():
        vendor, product = spec["cpe"].split(":", 1)
        out[name] = Product(name=name, cpe_vendor=vendor, cpe_product=product,
                            purl_name=spec.get("purl_name", name), source=spec["source"])
    return out


def _cpe_escape(value: str) -> str:
    return "".join("\\" + c if c in "\\!\"#$%&'()*+,/:;<=>@[]^`{|}~" else c for c in value)


def cpe23(name: str, version: str | None) -> str | None:
    """CPE 2.3 formatted string for a canonical product, or None when unknown."""
    p = products().get(name)
    if p is None:
        return None
    v = _cpe_escape(version) if version else "*"
    return f"cpe:2.3:a:{p.cpe_vendor}:{p.cpe_product}:{v}:*:*:*:*:*:*:*".replace(
        "cpe:2.3:a:linux:linux_kernel", "cpe:2.3:o:linux:linux_kernel")


def generic_purl(name: str, version: str | None) -> str:
    p = products().get(name)
    return PackageURL(type="generic", name=p.purl_name if p else name,
                      version=version or None).to_string()
