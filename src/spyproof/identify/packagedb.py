"""Components from the package databases of a root filesystem: dpkg and opkg.

A package database is the best evidence an image can carry about what it contains: the
packager wrote down each package's exact version and the files it owns. It is also input
from the image under evaluation, so it is read as hostile data: streamed line by line with
bounded memory, a stanza that does not parse is skipped (and counted) rather than guessed
at, and only regular files that the inventory recorded are opened (never through a
symlink, never resolved on the host).

Formats read:

- dpkg: ``var/lib/dpkg/status`` (deb822 stanzas, dpkg's ``Status: want flag status``) and
  ``var/lib/dpkg/info/<package>.list`` or ``<package>:<arch>.list`` (one absolute path per
  line, as dpkg writes them).
- opkg: ``usr/lib/opkg/status`` and ``var/lib/opkg/status`` (the same stanza syntax; opkg's
  ``pkg_print_status`` writes Package, Version, Depends, …, Status, Architecture,
  Conffiles, Installed-Time, Auto-Installed), ``<dir>/info/<package>.control`` (the
  package's full control file, with OpenWrt's SourceName and CPE-ID fields) and
  ``<dir>/info/<package>.list`` (one absolute path per line). When a status file is absent
  but control files are present (some firmware builds drop the status file), every
  ``.control`` file names an installed package.

Package URLs: dpkg packages get ``pkg:deb/<vendor>/<name>@<version>?arch=…&distro=…`` as
the purl specification's ``deb`` type defines it (vendor and distro from os-release, the
way Syft writes them). opkg has no type in the purl specification yet; spyproof writes
``pkg:opkg/<vendor>/<name>@<version>?arch=…`` with the vendor as namespace (``openwrt``
unless os-release names another opkg-based distribution), following the open proposal for
an ``opkg`` type (package-url/purl-spec pull request 279), which keeps the namespace the
way the spec's ``apk`` type does (``pkg:apk/openwrt/…``), and the purls EMBA emits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import islice
from pathlib import Path, PurePosixPath

import yaml
from packageurl import PackageURL

from spyproof.identify import products as productdb
from spyproof.models import Component, EntryKind, Evidence, FileEntry, ScanWarning

METHOD = "package-db"

MAX_LINE = 64 * 1024
"""Longest line read in a database file; a longer one makes its stanza invalid."""
BLOCK = 1024 * 1024
MAX_LIST_FILES = 20_000
"""Most .list/.control files read per database directory."""
MAX_OWNED_PER_PACKAGE = 100_000

DPKG_DIRS = ("var/lib/dpkg",)
OPKG_DIRS = ("usr/lib/opkg", "var/lib/opkg")

# Only the fields spyproof uses are kept; all others (descriptions, conffiles, …) are
# parsed for syntax and dropped, so a stanza's memory does not grow with its size.
_KEEP = {"package", "version", "status", "architecture", "source", "sourcename", "cpe-id"}
_FIELD_RE = re.compile(rb"^([!-9;-~][!-9;-~]*):(.*)$")  # deb822: printable ASCII, no ':'
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,199}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9.+~:_-]{1,200}$")
_ARCH_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_UPSTREAM_RE = re.compile(r"^[0-9][0-9A-Za-z.]*$")
_CPE22_RE = re.compile(r"^cpe:/([aho]):([^:]+):([^:]+)")


# --- data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alias:
    names: tuple[str, ...]
    source: str
    only_if_version: re.Pattern[str] | None = None
    upstream_regex: re.Pattern[str] | None = None

    def applies(self, version: str) -> bool:
        return self.only_if_version is None or bool(self.only_if_version.search(version))


@dataclass(frozen=True)
class AliasTable:
    packages: dict[str, tuple[Alias, ...]]
    patterns: tuple[tuple[re.Pattern[str], Alias], ...]
    sources: dict[str, Alias]


def _alias(spec: dict) -> Alias:
    names = spec["name"]
    names = tuple(names) if isinstance(names, list) else (names,)
    known = productdb.products()
    for n in names:
        if n not in known:
            raise ValueError(f"package_aliases.yaml: {n!r} is not in products.yaml")
    return Alias(
        names=names, source=spec["source"],
        only_if_version=re.compile(spec["only_if_version"]) if "only_if_version" in spec
        else None,
        upstream_regex=re.compile(spec["upstream_regex"]) if "upstream_regex" in spec
        else None)


@cache
def alias_tables() -> dict[str, AliasTable]:
    """The package-name -> product tables of package_aliases.yaml, per database kind."""
    raw = yaml.safe_load(resources.files("spyproof.data").joinpath(
        "package_aliases.yaml").read_text(encoding="utf-8"))
    out: dict[str, AliasTable] = {}
    for db in ("deb", "opkg"):
        section = raw.get(db) or {}
        packages = {
            name: tuple(_alias(s) for s in (spec if isinstance(spec, list) else [spec]))
            for name, spec in (section.get("packages") or {}).items()}
        patterns = tuple((re.compile(p["regex"]), _alias(p))
                         for p in section.get("patterns") or [])
        sources = {name: _alias(spec) for name, spec in (section.get("sources") or {}).items()}
        out[db] = AliasTable(packages=packages, patterns=patterns, sources=sources)
    return out


@cache
def _products_by_cpe() -> dict[tuple[str, str], str]:
    return {(p.cpe_vendor, p.cpe_product): p.name for p in productdb.products().values()}


# --- versions ------------------------------------------------------------------------

_REPACK_RE = re.compile(r"[+.~](?:dfsg|ds|repack|nmu)[0-9]*$", re.IGNORECASE)


def upstream_version(version: str, db: str) -> str | None:
    """The upstream release a distribution version packages, or None when unsure.

    Debian (``[epoch:]upstream[-revision]``): the epoch and the revision go, then a
    repack marker (``+dfsg``, ``.dfsg``, ``+ds``, ``+repack`` …); ``X+reallyY`` is Y. opkg:
    the epoch and the trailing release number (``-1``, ``-r3``) go. What is left must look
    like a plain release (digits, letters, dots: ``1.1.1w``, ``9.2p1``, ``2022.83``);
    snapshots (``+git…``, ``~rc1``, dates with dashes) give None rather than a guess.
    """
    v = version.strip()
    if ":" in v:
        epoch, _, v = v.partition(":")
        if not epoch.isdigit():
            return None
    if db == "deb":
        if "-" in v:
            v = v.rsplit("-", 1)[0]
        if "+really" in v:
            v = v.rsplit("+really", 1)[1]
        while True:
            stripped = _REPACK_RE.sub("", v)
            if stripped == v:
                break
            v = stripped
    else:
        m = re.match(r"^(.*)-r?[0-9]+$", v)
        if m:
            v = m.group(1)
    return v if _UPSTREAM_RE.match(v) else None


def _cpe_escape(value: str) -> str:
    return "".join("\\" + c if c in "\\!\"#$%&'()*+,/:;<=>@[]^`{|}~" else c for c in value)


# --- stanza parsing ------------------------------------------------------------------


@dataclass
class Stanza:
    fields: dict[str, str]
    line: int  # 1-based line of the Package: field
    package_line: str


@dataclass
class ParseStats:
    bad_stanzas: int = 0
    truncated: bool = False
    unreadable: bool = False


def _open_nofollow(path: Path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(fd, "rb")


def _line_batches(fh, stats: ParseStats) -> Iterator[list[bytes | None]]:
    """The file's lines in batches, read in fixed-size blocks (memory stays bounded).

    A line longer than MAX_LINE comes out as None (its bytes are skipped, not kept). A last
    line without a newline sets ``stats.truncated``.
    """
    carry = b""
    skipping = False  # inside an over-long line
    while True:
        block = fh.read(BLOCK)
        if not block:
            break
        parts = block.split(b"\n")
        tail = parts.pop()
        out: list[bytes | None] = []
        if parts:
            first = parts[0]
            if skipping:
                out.append(None)
                skipping = False
            else:
                first = carry + first
                out.append(first if len(first) <= MAX_LINE else None)
            out.extend([p if len(p) <= MAX_LINE else None for p in parts[1:]])
            carry = b""
        if not skipping:
            carry += tail
            if len(carry) > MAX_LINE:
                carry, skipping = b"", True
        if out:
            yield out
    if skipping or carry:
        stats.truncated = True
        yield [None if skipping else carry]


def parse_stanzas(path: Path, stats: ParseStats) -> Generator[Stanza, None, None]:
    """Stanzas of a deb822-style file (dpkg/opkg status, control), streamed.

    A stanza with a malformed line, a duplicated or binary field, or no Package field is
    skipped and counted in ``stats.bad_stanzas``; so is a last stanza whose final line
    is a kept field without a newline (the file was cut: that value may be cut too; a cut
    description line loses nothing spyproof reads).
    """
    try:
        fh = _open_nofollow(path)
    except OSError:
        stats.unreadable = True
        return
    with fh:
        fields: dict[str, str] = {}
        seen: set[str] = set()
        bad = False
        nonempty = False
        pkg_line = 0
        pkg_text = ""
        lineno = 0
        last_field_kept = False
        last_line_kept = False  # the latest line was a field spyproof keeps

        def finish() -> Stanza | None:
            if not nonempty:
                return None
            if bad or "package" not in fields:
                stats.bad_stanzas += 1
                return None
            return Stanza(fields=dict(fields), line=pkg_line, package_line=pkg_text)

        try:
            for batch in _line_batches(fh, stats):
                for raw in batch:
                    lineno += 1
                    last_line_kept = False
                    if raw is None:
                        bad = nonempty = True
                        continue
                    first = raw[:1]
                    if first == b" " or first == b"\t":
                        if not raw.strip():
                            pass  # a blank line: falls through to the end of the stanza
                        else:
                            nonempty = True
                            # A continuation line must continue a field, not one of the
                            # single-line fields spyproof keeps, and be text.
                            if not seen or last_field_kept or b"\x00" in raw:
                                bad = True
                            continue
                    elif raw and raw != b"\r":
                        nonempty = True
                        m = _FIELD_RE.match(raw)
                        if m is None or first == b"#" or first == b"-" or b"\x00" in raw:
                            bad = True
                            continue
                        try:
                            name = m.group(1).decode("ascii").lower()
                            value = m.group(2).decode("utf-8").strip()
                        except UnicodeDecodeError:
                            bad = True
                            continue
                        if name in seen:
                            bad = True
                        seen.add(name)
                        last_field_kept = last_line_kept = name in _KEEP
                        if last_field_kept:
                            fields[name] = value
                            if name == "package":
                                pkg_line = lineno
                                pkg_text = raw.decode("utf-8").rstrip()
                        continue
                    st = finish()
                    if st is not None:
                        yield st
                    fields, seen, bad, nonempty, last_field_kept = {}, set(), False, False, False
        except OSError:
            stats.unreadable = True
            return
        if stats.truncated and last_line_kept:
            bad = True  # e.g. "Version: 1.2" cut from "Version: 1.2.13-1"
        st = finish()
        if st is not None:
            yield st


def _installed(status: str | None) -> bool:
    """dpkg and opkg write ``Status: <want> <flag> <status>``: installed means the last
    word is ``installed`` (held or deselected packages are still on disk) and, for dpkg,
    the flag is ``ok`` (``reinstreq`` marks a broken install)."""
    if status is None:
        return False
    words = status.split()
    return len(words) == 3 and words[2] == "installed" and words[1] != "reinstreq"


# --- the filesystem view -------------------------------------------------------------


class _Tree:
    """Lookups in one tree's inventory; opens only regular files the walk recorded."""

    def __init__(self, tree_id: str, root: Path, files: list[FileEntry]):
        self.id = tree_id
        self.root = root
        self.entries = {e.path: e for e in files if e.tree == tree_id}
        self._dir_cache: dict[str, str | None] = {}
        self.children: dict[str, list[str]] = {}
        for p in self.entries:
            parent = p.rpartition("/")[0]
            self.children.setdefault(parent, []).append(p)

    def regular(self, rel: str) -> FileEntry | None:
        e = self.entries.get(rel)
        if e is None or e.kind not in (EntryKind.file, EntryKind.hardlink):
            return None
        return e

    def resolve_dir(self, rel: str) -> str | None:
        """The inventory path of directory ``rel`` with symlinks followed inside the image
        (e.g. a merged-/usr ``lib -> usr/lib``), lexically, never on the host. None for a
        loop or a path that leaves the tree. Cached: package lists share directories."""
        if rel in self._dir_cache:
            return self._dir_cache[rel]
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        links = 0
        result: str | None = None
        while True:
            if not parts:
                result = "/".join(resolved)
                break
            part = parts.pop(0)
            if part == "..":
                if not resolved:
                    break
                resolved.pop()
                continue
            cand = "/".join([*resolved, part])
            entry = self.entries.get(cand)
            if entry is not None and entry.kind == EntryKind.symlink:
                links += 1
                target = entry.link_target or ""
                if links > 40 or not target:
                    break
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            resolved.append(part)
        self._dir_cache[rel] = result
        return result

    def host_path(self, rel: str) -> Path:
        return self.root.joinpath(*PurePosixPath(rel).parts)

    def listdir(self, rel: str) -> list[str]:
        return sorted(self.children.get(rel, []))

    def read_text(self, rel: str, limit: int = MAX_LINE) -> str | None:
        if self.regular(rel) is None:
            return None
        try:
            with _open_nofollow(self.host_path(rel)) as fh:
                return fh.read(limit).decode("utf-8", errors="replace")
        except OSError:
            return None


def _os_release(tree: _Tree) -> dict[str, str]:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        text = tree.read_text(rel)
        if text is None:
            continue
        out: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
                out[key.strip()] = value.strip().strip("'\"")
        return out
    text = tree.read_text("etc/openwrt_release")
    if text is not None:
        vals = dict(re.findall(r"^(DISTRIB_[A-Z]+)=['\"]?([^'\"\n]*)", text, re.MULTILINE))
        if vals.get("DISTRIB_ID", "").lower() in ("openwrt", "lede"):
            return {"ID": "openwrt", "VERSION_ID": vals.get("DISTRIB_RELEASE", "")}
    return {}


def _slug(value: str) -> str | None:
    value = value.strip().lower()
    return value if re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", value) else None


def _vendor_and_distro(osr: dict[str, str], db: str) -> tuple[str, str | None]:
    os_id = _slug(osr.get("ID", "")) or ""
    like = osr.get("ID_LIKE", "").lower().split()
    if db == "deb":
        vendor = os_id if os_id and (os_id in ("debian", "ubuntu") or "debian" in like
                                     or "ubuntu" in like) else "debian"
    else:
        vendor = "openwrt" if not os_id or os_id in ("openwrt", "lede") else os_id
    release = _slug(osr.get("VERSION_ID", "")) or _slug(osr.get("VERSION_CODENAME", ""))
    distro = f"{os_id}-{release}" if os_id == vendor and release else None
    return vendor, distro


# --- identification ------------------------------------------------------------------


@dataclass
class PackageDbResult:
    components: list[Component] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)


@dataclass
class _Pkg:
    db: str
    name: str
    version: str
    arch: str | None
    source: str | None
    cpe_id: str | None
    evidence: list[Evidence]
    list_rel: str | None


def _resolve(db: str, pkg: _Pkg) -> tuple[tuple[str, ...], Alias | None]:
    """Canonical product names for a package (empty: unknown) and the alias that said so."""
    table = alias_tables()[db]
    for alias in table.packages.get(pkg.name, ()):
        if alias.applies(pkg.version):
            return alias.names, alias
    if pkg.name in table.packages:  # listed, but no variant fits this version
        return (), None
    for regex, alias in table.patterns:
        if regex.fullmatch(pkg.name) and alias.applies(pkg.version):
            return alias.names, alias
    if pkg.name in productdb.products():
        return (pkg.name,), None
    if pkg.cpe_id:
        m = _CPE22_RE.match(pkg.cpe_id)
        if m:
            hit = _products_by_cpe().get((m.group(2).lower(), m.group(3).lower()))
            if hit:
                return (hit,), None
    if pkg.source:
        alias = table.sources.get(pkg.source)
        if alias is not None and alias.applies(pkg.version):
            return alias.names, alias
        if pkg.source in productdb.products():
            return (pkg.source,), None
    return (), None


def _cpe_from_control(cpe_id: str | None, upstream: str | None) -> str | None:
    """A CPE 2.3 name from OpenWrt's ``CPE-ID: cpe:/a:vendor:product`` and a version."""
    if not cpe_id or not upstream:
        return None
    m = _CPE22_RE.match(cpe_id.strip())
    if not m or not all(re.fullmatch(r"[a-z0-9._-]+", g) for g in (m.group(2), m.group(3))):
        return None
    return (f"cpe:2.3:{m.group(1)}:{m.group(2)}:{m.group(3)}:{_cpe_escape(upstream)}"
            ":*:*:*:*:*:*:*")


def _owned_files(tree: _Tree, list_rel: str | None) -> list[str]:
    if list_rel is None or tree.regular(list_rel) is None:
        return []
    owned: set[str] = set()
    try:
        with _open_nofollow(tree.host_path(list_rel)) as fh:
            for batch in _line_batches(fh, ParseStats()):
                for raw in batch:
                    if raw is None or b"\x00" in raw:
                        continue
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    rel = line.split("\t", 1)[0].strip().lstrip("/").removeprefix("./")
                    if not rel or rel == "." or ".." in rel.split("/"):
                        continue
                    entry = tree.entries.get(rel)
                    if entry is None:  # listed below a symlinked directory?
                        parent, _, leaf = rel.rpartition("/")
                        real = tree.resolve_dir(parent) if parent else None
                        if real:
                            rel = f"{real}/{leaf}"
                            entry = tree.entries.get(rel)
                    if entry is not None and entry.kind != EntryKind.directory:
                        owned.add(f"{tree.id}/{rel}")
                if len(owned) >= MAX_OWNED_PER_PACKAGE:
                    break
    except OSError:
        return []
    return sorted(owned)


def _evidence(tree: _Tree, rel: str, stanza: Stanza) -> Evidence:
    entry = tree.regular(rel)
    if rel.endswith(".control"):
        rule = "packagedb.opkg-control"
    elif "/opkg/" in rel:
        rule = "packagedb.opkg-status"
    else:
        rule = "packagedb.dpkg-status"
    return Evidence(tree=tree.id, path=rel, sha256=entry.sha256 if entry else None,
                    line=stanza.line, text=stanza.package_line, rule=rule)


def _valid(st: Stanza) -> tuple[str, str, str | None] | None:
    name = st.fields.get("package", "")
    version = st.fields.get("version", "")
    arch = st.fields.get("architecture") or None
    if not _NAME_RE.match(name) or not _VERSION_RE.match(version):
        return None
    if arch is not None and not _ARCH_RE.match(arch):
        return None
    return name, version, arch


def _source_name(st: Stanza, db: str) -> str | None:
    value = st.fields.get("sourcename" if db == "opkg" else "source") or (
        st.fields.get("source") if db == "opkg" else None)
    if not value:
        return None
    value = value.split()[0]  # dpkg: "Source: name (version)"
    if db == "opkg" and "/" in value:  # OpenWrt's Source: is the feed path
        value = value.rstrip("/").rsplit("/", 1)[-1]
    return value if _NAME_RE.match(value) else None


def _installed_stanzas(tree: _Tree, status_rel: str, stats: ParseStats):
    """(stanza, name, version, arch) of each installed, well-formed package of a status file;
    malformed stanzas are counted in stats."""
    for st in parse_stanzas(tree.host_path(status_rel), stats):
        if not _installed(st.fields.get("status")):
            continue
        valid = _valid(st)
        if valid is None:
            stats.bad_stanzas += 1
            continue
        yield (st, *valid)


def _dpkg_packages(tree: _Tree, base: str, warn: list[ScanWarning]) -> list[_Pkg]:
    status_rel = f"{base}/status"
    if tree.regular(status_rel) is None:
        return []
    stats = ParseStats()
    out: list[_Pkg] = []
    for st, name, version, arch in _installed_stanzas(tree, status_rel, stats):
        list_rel = None
        for cand in ([f"{base}/info/{name}:{arch}.list"] if arch else []) + [
                f"{base}/info/{name}.list"]:
            if tree.regular(cand) is not None:
                list_rel = cand
                break
        out.append(_Pkg(db="deb", name=name, version=version, arch=arch,
                        source=_source_name(st, "deb"), cpe_id=None,
                        evidence=[_evidence(tree, status_rel, st)], list_rel=list_rel))
    _warn_stats(tree, status_rel, stats, warn)
    return out


def _opkg_packages(tree: _Tree, base: str, warn: list[ScanWarning]) -> list[_Pkg]:
    status_rel = f"{base}/status"
    info = f"{base}/info"
    controls: dict[str, tuple[str, Stanza]] = {}
    control_files = [p for p in tree.listdir(info) if p.endswith(".control")]
    for rel in control_files[:MAX_LIST_FILES]:
        if tree.regular(rel) is None:
            continue
        stats = ParseStats()
        with closing(parse_stanzas(tree.host_path(rel), stats)) as gen:
            stanzas = list(islice(gen, 2))
        if len(stanzas) == 1 and stanzas[0].fields.get("package") == \
                PurePosixPath(rel).name.removesuffix(".control"):
            controls[stanzas[0].fields["package"]] = (rel, stanzas[0])
        elif stanzas or stats.bad_stanzas:
            stats.bad_stanzas = max(stats.bad_stanzas, 1)
        _warn_stats(tree, rel, stats, warn)

    out: list[_Pkg] = []
    if tree.regular(status_rel) is not None:
        stats = ParseStats()
        for st, name, version, arch in _installed_stanzas(tree, status_rel, stats):
            evidence = [_evidence(tree, status_rel, st)]
            ctl = controls.get(name)
            merged = dict(st.fields)
            if ctl is not None and ctl[1].fields.get("version") == version:
                evidence.append(_evidence(tree, ctl[0], ctl[1]))
                for key in ("sourcename", "source", "cpe-id", "architecture"):
                    merged.setdefault(key, ctl[1].fields.get(key, ""))
                arch = arch or merged.get("architecture") or None
                if arch is not None and not _ARCH_RE.match(arch):
                    arch = None
            out.append(_opkg_pkg(tree, info, name, version, arch, merged, evidence))
        _warn_stats(tree, status_rel, stats, warn)
    else:
        for name, (rel, st) in sorted(controls.items()):
            valid = _valid(st)
            if valid is None:
                continue
            _, version, arch = valid
            out.append(_opkg_pkg(tree, info, name, version, arch, st.fields,
                                 [_evidence(tree, rel, st)]))
    return out


def _opkg_pkg(tree: _Tree, info: str, name: str, version: str, arch: str | None,
              fields: dict[str, str], evidence: list[Evidence]) -> _Pkg:
    cpe_id = fields.get("cpe-id") or None
    return _Pkg(db="opkg", name=name, version=version, arch=arch,
                source=_source_name(Stanza(fields=fields, line=0, package_line=""), "opkg"),
                cpe_id=cpe_id, evidence=evidence,
                list_rel=f"{info}/{name}.list" if tree.regular(f"{info}/{name}.list")
                else None)


def _warn_stats(tree: _Tree, rel: str, stats: ParseStats, warn: list[ScanWarning]) -> None:
    where = f"{tree.id}/{rel}"
    if stats.unreadable:
        warn.append(ScanWarning(code="packagedb.unreadable", path=where,
                                message="package database file could not be read"))
    truncated = " (the file ends mid-line: truncated)" if stats.truncated else ""
    if stats.bad_stanzas:
        warn.append(ScanWarning(
            code="packagedb.bad_stanza", path=where,
            message=f"{stats.bad_stanzas} malformed package entr"
                    f"{'y' if stats.bad_stanzas == 1 else 'ies'} skipped{truncated}"))
    elif stats.truncated:
        warn.append(ScanWarning(code="packagedb.truncated", path=where,
                                message="package database ends mid-line: truncated"))


def _component(tree: _Tree, pkg: _Pkg, product: str | None, alias: Alias | None,
               vendor: str, distro: str | None) -> Component:
    qualifiers: dict[str, str] = {}
    if pkg.arch:
        qualifiers["arch"] = pkg.arch
    if distro:
        qualifiers["distro"] = distro
    purl = PackageURL(type="deb" if pkg.db == "deb" else "opkg", namespace=vendor,
                      name=pkg.name.lower() if pkg.db == "deb" else pkg.name,
                      version=pkg.version, qualifiers=qualifiers or None).to_string()
    if alias is not None and alias.upstream_regex is not None:
        m = alias.upstream_regex.search(pkg.version)
        upstream = m.group(1) if m and _UPSTREAM_RE.match(m.group(1)) else None
    else:
        upstream = upstream_version(pkg.version, pkg.db)
    if product is not None:
        cpe = productdb.cpe23(product, upstream) if upstream else None
    else:
        cpe = _cpe_from_control(pkg.cpe_id, upstream)
    return Component(
        name=product or pkg.name, version=pkg.version, purl=purl, cpe=cpe, method=METHOD,
        confidence=1.0, evidence=pkg.evidence, package=pkg.name,
        files=_owned_files(tree, pkg.list_rel))


def scan_package_dbs(tree_id: str, root: Path, files: list[FileEntry]) -> PackageDbResult:
    """Components and parse warnings from every dpkg/opkg database in one tree."""
    tree = _Tree(tree_id, root, files)
    result = PackageDbResult()
    osr = _os_release(tree)
    seen: set[tuple[str, str, str | None]] = set()
    pkgs: list[_Pkg] = []
    for base in DPKG_DIRS:
        pkgs.extend(_dpkg_packages(tree, base, result.warnings))
    for base in OPKG_DIRS:
        pkgs.extend(_opkg_packages(tree, base, result.warnings))
    vendors = {db: _vendor_and_distro(osr, db) for db in ("deb", "opkg")}
    for pkg in pkgs:
        key = (pkg.db, pkg.name, pkg.arch)
        if key in seen:  # the same package in /usr/lib/opkg and /var/lib/opkg
            continue
        seen.add(key)
        names, alias = _resolve(pkg.db, pkg)
        vendor, distro = vendors[pkg.db]
        for product in names or (None,):
            result.components.append(_component(tree, pkg, product, alias, vendor, distro))
    result.components.sort(key=lambda c: (c.name, c.package or "", c.version or "",
                                          c.purl or ""))
    return result


def identify_from_package_dbs(tree_id: str, root: Path,
                              files: list[FileEntry]) -> list[Component]:
    """Installed packages of the tree's dpkg/opkg databases, as components."""
    return scan_package_dbs(tree_id, root, files).components
