"""The extraction worker: runs unblob on one image inside its own process group.

It runs apart from the scan so that the engine can stop it at any moment (a cap reached,
a hung extractor) without losing what was already extracted: every finished unblob task is
appended to a JSON-lines journal as soon as it completes. The worker confines its own
writes to the work directory (Landlock, where the kernel offers it) and caps the size of
any single file it or its child extractors write (RLIMIT_FSIZE).

Usage (internal): python -m spyproof.unpack.worker IMAGE WORK_ROOT JOURNAL LOG
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import sys
import time
from pathlib import Path

from spyproof.unpack.limits import current

DEPTH_LIMIT_MARK = "spyproof.depth_limit"
STARTED = time.monotonic()


def _configure_logging(log_path: Path) -> None:
    """Send unblob's structlog output to a JSON-lines file, warnings and errors only."""
    import structlog

    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(default=str, sort_keys=True),
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def _confine(work_root: Path, journal: Path, log_path: Path) -> str:
    """Restrict this process and its children to writing inside the work directory."""
    try:
        from unblob.sandbox import AccessFS, restrict_access

        restrict_access(
            AccessFS.read("/"),
            AccessFS.read_write("/dev/shm"),
            AccessFS.read_write("/dev/null"),
            AccessFS.read_write(work_root),
            AccessFS.remove_dir(work_root),
            AccessFS.remove_file(work_root),
            AccessFS.make_dir(work_root),
            AccessFS.read_write(journal),
            AccessFS.read_write(log_path),
        )
    except Exception as exc:  # Landlock missing or refused: extraction still path-checks
        return f"sandbox unavailable: {exc}"
    return "sandbox: landlock"


SKIP_MAGIC_PREFIX = "spyproof-skip: "
_PLAIN_TEXT = re.compile(r"^(ASCII|UTF-8 Unicode|ISO-8859) text|^(POSIX shell|Bourne-Again "
                         r"shell|Python|Perl|Lua|Tcl|awk|a /\S+ script)|^PEM |^OpenSSH |^JSON"
                         r"|^XML |^HTML |^exported SGML|^empty$|^very short file")


def _no_hash(cls, _path: object):  # noqa: ANN001, ANN202
    return cls(md5="", sha1="", sha256="")


def _no_mime(_path: object) -> str:
    return ""


def _has_content(path: Path) -> bool:
    """True when a task stopped by the depth cap still had something left to unpack."""
    try:
        if path.is_symlink():
            return False
        if path.is_dir():
            return any(path.iterdir())
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def main(argv: list[str]) -> int:
    image, work_root, journal, log_path = (Path(a) for a in argv[1:5])
    limits = current()
    # A single runaway file (a decompression bomb) fails its write instead of filling the disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
    _configure_logging(log_path)
    journal_fh = journal.open("a", encoding="utf-8")
    note = _confine(work_root, journal, log_path)
    journal_fh.write(json.dumps({"worker": note}) + "\n")
    journal_fh.flush()

    import unblob.processing as unblob_processing

    from spyproof.unpack import lazy_lief

    lazy_lief.install()
    from unblob.models import Task
    from unblob.pool import make_pool
    from unblob.processing import ExtractionConfig, Processor
    from unblob.report import UnknownError

    from spyproof.unpack.handlers import SPYPROOF_DIR_HANDLERS, SPYPROOF_HANDLERS

    # spyproof's inventory hashes every file itself (sha256); unblob's md5+sha1+sha256 of
    # every file would read each one again for nothing.
    unblob_processing.HashReport.from_path = classmethod(_no_hash)
    from unblob.processing import DEFAULT_SKIP_MAGIC

    config = ExtractionConfig(
        extract_root=work_root,
        randomness_depth=0,
        max_depth=limits.max_depth,
        process_num=2,
        handlers=SPYPROOF_HANDLERS,
        dir_handlers=SPYPROOF_DIR_HANDLERS,
        verbose=0,
        skip_magic=(*DEFAULT_SKIP_MAGIC, SKIP_MAGIC_PREFIX),
    )

    class _Processor(Processor):
        def __init__(self, cfg):  # noqa: ANN001 - unblob's signature
            super().__init__(cfg)
            # unblob only uses magic to skip media and similar files; the first match is
            # enough for that, and spyproof's inventory types every file itself. This
            # roughly halves libmagic's share of an unpack.
            import magic

            first_match = magic.Magic().from_file

            def get_magic(path):  # noqa: ANN001, ANN202
                text = first_match(path)
                # Dynamically linked programs and libraries are whole-file ELF chunks whose
                # only "extraction" is the ELF itself; searching their bytes for embedded
                # formats costs most of an unpack and finds nothing an ELF carries. Kernels
                # and static binaries (which may embed an initramfs) are still searched.
                if text.startswith("ELF ") and "dynamically linked" in text:
                    return SKIP_MAGIC_PREFIX + text
                # Plain text (configs, scripts, PEM) holds no binary container to carve.
                if _PLAIN_TEXT.search(text) and "data" not in text:
                    return SKIP_MAGIC_PREFIX + text
                return text

            self._get_magic = get_magic
            self._get_mime_type = _no_mime

        def process_task(self, task):  # noqa: ANN001 - unblob's signature
            result = super().process_task(task)
            if task.depth >= config.max_depth and _has_content(task.path):
                result.add_report(UnknownError(exception=DEPTH_LIMIT_MARK))
            return result

    processor = _Processor(config)

    def on_result(pool, result):  # noqa: ANN001 - unblob's callback signature
        for new_task in result.subtasks:
            pool.submit(new_task)
        record = result.model_dump_json(serialize_as_any=True)
        journal_fh.write(f'{{"t": {time.monotonic() - STARTED:.3f}, {record[1:]}\n')
        journal_fh.flush()

    pool = make_pool(
        process_num=config.process_num,
        handler=processor.process_task,
        result_callback=on_result,
    )
    with pool:
        pool.submit(Task(blob_id="", path=image, depth=0))
        pool.process_until_done()
    journal_fh.write(json.dumps({"done": True}) + "\n")
    journal_fh.flush()
    os.fsync(journal_fh.fileno())
    journal_fh.close()
    logging.shutdown()
    # Everything is on disk; skip the interpreter's teardown of unblob, LIEF and friends,
    # which costs the scan most of a second for nothing.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
