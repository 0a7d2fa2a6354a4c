"""The studio's processes seen from outside (training workers, classifying jobs, model servers):
is a pid still the process we started (pids are reused), and stopping a group of children."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def live_command(pid: int | None) -> list[str] | None:
    """The command line of process `pid` while it runs, for callers to check it is theirs (pids are
    reused). None when it is gone, a zombie (it has finished) or not ours to signal; [] where there
    is no /proc to read it from (macOS): alive, the pid trusted."""
    if not pid:
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return []
    try:
        command = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else command


def runs_with(pid: int | None, *marks: str) -> bool:
    """Is `pid` running, with every one of `marks` in its command line?"""
    command = live_command(pid)
    if command is None:
        return False
    text = " ".join(command)
    return not command or all(mark in text for mark in marks)


def parent_pid(pid: int) -> int | None:
    """The parent of a live process, where /proc says (None elsewhere or when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def end_processes(processes, grace_s: float) -> None:
    """SIGTERM each child process (each stops as it does on Ctrl-C), wait up to `grace_s` for them
    all, then SIGKILL the ones still running."""
    for process in processes:
        try:
            process.terminate()
        except ProcessLookupError:
            pass
    deadline = time.time() + grace_s
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
