"""The machine a benchmark ran on, printed with its figures."""
from __future__ import annotations

import os
import platform
import sys


def machine_summary() -> str:
    """CPU model, cores, memory and Python version as one line."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    return (f"{model}, {os.cpu_count()} cores{memory}, Python {sys.version.split()[0]}, "
            f"{platform.system()} {platform.release()}")
