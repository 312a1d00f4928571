"""Peak resident memory of this process, for the benchmarks (Linux /proc)."""

from __future__ import annotations


def rss_kb(field: str = "VmRSS:") -> int:
    """A memory field of /proc/self/status in KiB (``VmRSS:`` now, ``VmHWM:`` peak); 0 if unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> None:
    """Reset the peak (VmHWM) to the current resident size, where the kernel allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
