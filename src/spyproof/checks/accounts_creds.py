"""The bundled list of vendor default credentials (data/checks/default_credentials.yaml).

Each entry is a username/password pair with the public source that documents it. The
list decides which passwords are tried against each hash, and in which order: those
documented for the account's own name first, so an expensive hash (bcrypt, yescrypt)
whose try budget runs out has still met the likeliest candidates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "checks/default_credentials.yaml"


@dataclass(frozen=True)
class Credential:
    id: str
    username: str | None  # None: the password works with any account name
    password: str
    vendors: tuple[str, ...]
    products: tuple[str, ...]
    source: str
    see_also: tuple[str, ...]
    lists: tuple[str, ...]
    note: str
    verified: str  # how the pair was checked against its source


def _strings(value: Any, key: str, cid: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{DATA_FILE}: {cid}: {key} must be a list of strings")
    return tuple(value)


def parse_credentials(raw: Any) -> list[Credential]:
    """Validated entries of a default-credential document (``ValueError`` if malformed)."""
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ValueError(f"{DATA_FILE}: expected a mapping with version: 1")
    items = raw.get("credentials")
    if not isinstance(items, list) or not items:
        raise ValueError(f"{DATA_FILE}: credentials must be a non-empty list")
    out: list[Credential] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"{DATA_FILE}: every credential must be a mapping")
        cid = item.get("id")
        if not isinstance(cid, str) or not cid or cid in seen:
            raise ValueError(f"{DATA_FILE}: missing or duplicate id {cid!r}")
        seen.add(cid)
        user, password = item.get("username"), item.get("password")
        if user is not None and not isinstance(user, str):
            raise ValueError(f"{DATA_FILE}: {cid}: username must be a string or null")
        if not isinstance(password, str):
            raise ValueError(f"{DATA_FILE}: {cid}: password must be a string")
        if len(password) >= 4 and password != user and password.lower() in cid.lower():
            raise ValueError(f"{DATA_FILE}: {cid}: the id must not give the password away")
        source = item.get("source")
        if not isinstance(source, str) or not source.startswith("https://"):
            raise ValueError(f"{DATA_FILE}: {cid}: source must be an https URL")
        out.append(Credential(
            id=cid, username=user, password=password,
            vendors=_strings(item.get("vendors"), "vendors", cid),
            products=_strings(item.get("products"), "products", cid),
            source=source, see_also=_strings(item.get("see_also"), "see_also", cid),
            lists=_strings(item.get("lists"), "lists", cid),
            note=str(item.get("note") or ""), verified=str(item.get("verified") or "")))
    return out


@functools.cache
def load_credentials() -> tuple[Credential, ...]:
    text = resources.files("spyproof.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    return tuple(parse_credentials(yaml.load(text, Loader=loader)))


def candidates(account: str, creds: tuple[Credential, ...]) -> list[str]:
    """Distinct passwords to try for ``account``: documented for its name first, then
    those that work with any name, then all the others, each in list order."""
    ordered: list[str] = []
    seen: set[str] = set()
    for rank in (0, 1, 2):
        for c in creds:
            r = 0 if c.username == account else 1 if c.username is None else 2
            if r == rank and c.password not in seen:
                seen.add(c.password)
                ordered.append(c.password)
    return ordered


def credential_for(account: str, password: str, creds: tuple[Credential, ...]
                   ) -> Credential:
    """The entry that best explains a match: same name and password (one tied to a vendor
    first), else one valid for any name, else the first with that password."""
    same = [c for c in creds if c.password == password]
    named = [c for c in same if c.username == account]
    for group in ([c for c in named if c.vendors], named,
                  [c for c in same if c.username is None], same):
        if group:
            return group[0]
    raise ValueError("password is not in the list")


def also_listed(account: str, password: str, chosen: Credential,
                creds: tuple[Credential, ...]) -> list[str]:
    """Ids of the other entries that document the same account name and password."""
    return [c.id for c in creds if c.password == password and c is not chosen
            and c.username in (account, None)]
