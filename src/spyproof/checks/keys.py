"""keys-and-credentials: private keys, certificates, authorized_keys and hard-coded secrets
shipped in the image (clause NS-2: no hard-coded or default credentials).

Everything in a firmware image is on every device built from it, so a private key or a
password found here is one that every device of the model shares and that anyone with the
image holds. Keys are named by fingerprint and secrets are masked: findings prove what is
there without handing it out.

The per-file half (``keys_scan``) reads each file once: PEM blocks anywhere (binaries
included), DER keys and certificates, PKCS#12, Dropbear host keys, authorized_keys, and the
secret rules of ``data/checks/secrets.yaml``. The image-wide half (``keys_image``) judges
certificates against the scan's clock, pairs keys with certificates, finds keys shared
across paths or compiled into binaries, and summarises the system trust store.
"""

from __future__ import annotations

from spyproof.checks.base import REGULAR, Check, CheckContext, CheckInfo, FileView, Outcome
from spyproof.checks.keys_image import ImageStep
from spyproof.checks.keys_scan import CHECK_ID, CLAUSE, matches, scan_file_outcome
from spyproof.checks.keys_secrets import DATA_FILE, SecretsData, load
from spyproof.models import FileEntry


class KeysCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Keys and credentials",
        clause=CLAUSE,
        description=(
            "Private keys (PEM, OpenSSH, PKCS#8, PKCS#12, DER, Dropbear) anywhere in the "
            "image, binaries included; authorized_keys entries; certificates that are expired, "
            "self-signed, weak, shared or whose CA key ships too; hard-coded passwords, tokens "
            "and API keys. Whatever the image holds, every device of the model shares."),
        looks_at="every regular file's bytes (up to max_bytes); etc/passwd for uid-0 homes; "
                 "the system CA store as a whole",
        data_files=(DATA_FILE,),
    )

    def __init__(self, secrets: SecretsData | None = None) -> None:
        self._secrets = secrets

    @property
    def secrets(self) -> SecretsData:
        if self._secrets is None:
            self._secrets = load()
        return self._secrets

    def wants(self, entry: FileEntry) -> bool:
        if entry.kind not in REGULAR or not entry.size:
            return False
        return not matches(entry.path, self.secrets.raw.get("ca_bundles", {}).get("paths", []))

    def scan_file(self, view: FileView) -> Outcome:
        return scan_file_outcome(view, self.secrets)

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        return ImageStep(ctx, per_file, self.secrets, self.max_bytes).run()


CHECK = KeysCheck()
