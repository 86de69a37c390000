"""The local stacks' processes from the outside: free ports, background services, their health, their end.

Each service starts as the leader of its own session, so stopping it can find every process it left behind (task
runners put themselves in their own process group but stay in the session). Nothing here knows which services a
stack has; `localstack` and `nativestack` do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airloop.errors import AirloopError


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def session_members(sid: int) -> list[int]:
    """Live processes in session `sid` (we start each service as a session leader)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after ')': state, ppid, pgrp, session
            out.append(int(entry.name))
    return out


def spawn(cmd: list[str], env: dict[str, str], log_file: Path, cwd: Path) -> int:
    """Start a service in the background as a session leader, its output appended to `log_file`; its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_file, "ab")
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(cwd),
    )
    log.close()
    return proc.pid


def stop_session(pid: int, sig: int = signal.SIGTERM, timeout: float = 30, interval: float = 0.2) -> None:
    """Signal a service's process group, wait up to `timeout` for it to go, then SIGKILL what is left of its
    session (SIGKILL as `sig` simulates a crash: nothing gets to clean up)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(interval)
    for straggler in [pid, *session_members(pid)]:
        # Task runners put themselves in their own process group but stay in our session.
        try:
            os.killpg(straggler, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET; status 0 when nothing answered (a service still starting, or gone)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""


def poll_until(poll: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call `poll` until it returns something other than None, and return that; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = poll()
        if result is not None:
            return result
        time.sleep(interval)
    raise TimeoutError(f"not done after {timeout:.0f}s")


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    *,
    proc_alive: Callable[[], bool] | None = None,
    log_file: Path | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `check` until it is true; fail early (with the log tail) if the process behind it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc_alive is not None and not proc_alive():
            raise AirloopError(f"{what} exited during start-up{log_tail(log_file)}")
        time.sleep(interval)
    raise AirloopError(f"{what} not ready after {timeout:.0f}s{log_tail(log_file)}")


def log_tail(log_file: Path | None, lines: int = 25) -> str:
    if not log_file or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_file}:\n" + "\n".join(text)
