"""Peak resident memory of the current process, for benchmark children to report."""

from __future__ import annotations

import resource
from pathlib import Path


def vmhwm_kb() -> int:
    """VmHWM from /proc (exact high-water mark), else getrusage's ru_maxrss (KiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
