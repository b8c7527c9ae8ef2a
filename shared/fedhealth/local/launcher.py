"""Start a keyserver, a coordinator and N hospital nodes on 127.0.0.1; watch; tear down.

Services bind port 0 and write the bound port to a file, so no port is ever guessed.
Node processes are forked from one forkserver that has already imported torch: each
node is still its own process (its own PID, killable alone), but torch is imported and
initialised once instead of N times, which is most of the start-up time and memory.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedhealth.errors import RunFailed
from fedhealth.local.entry import call

START_TIMEOUT_S = 60.0


@dataclass
class Part:
    """One process of the federation."""

    name: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    proc: Any = None  # multiprocessing.Process

    def poll(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        return None if self.proc.is_alive() else self.proc.exitcode

    def signal(self, signum: int) -> None:
        pid = self.popen.pid if self.popen is not None else self.proc.pid
        if pid and self.poll() is None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int | None:
        if self.popen is not None:
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        self.proc.join(timeout)
        return self.proc.exitcode


@dataclass
class Launcher:
    """Owns every process of one local run; `close()` always leaves none behind."""

    out: Path
    parts: list[Part] = field(default_factory=list)
    ctx: Any = None

    def __post_init__(self) -> None:
        (self.out / "logs").mkdir(parents=True, exist_ok=True)

    def forkserver(self, preload: list[str]) -> None:
        """Start the forkserver now, so its torch import overlaps the services' start."""
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(preload)
        from multiprocessing import forkserver

        threading.Thread(target=forkserver.ensure_running, daemon=True).start()

    def service(self, name: str, argv: list[str], on_line: Callable[[str], None] | None = None) -> Part:
        """Start `python -m fedhealth <argv>`; its stderr goes to logs/<name>.log."""
        log = self.out / "logs" / f"{name}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if on_line is None:
            with open(log, "ab") as fh:
                popen = subprocess.Popen([sys.executable, "-m", "fedhealth", *argv],
                                         stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, env=env)
        else:
            popen = subprocess.Popen([sys.executable, "-m", "fedhealth", *argv],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
            threading.Thread(target=_pump, args=(popen, log, on_line), daemon=True).start()
        part = Part(name, log, popen=popen)
        self.parts.append(part)
        return part

    def child(self, name: str, target: str, *args: Any) -> Part:
        """Fork a process from the forkserver to run `module:function` `target(*args)`."""
        proc = self.ctx.Process(target=call, args=(target, *args), name=name, daemon=False)
        proc.start()
        part = Part(name, self.out / "logs" / f"{name}.log", proc=proc)
        self.parts.append(part)
        return part

    def wait_port(self, part: Part, port_file: Path) -> int:
        """The port a service wrote to `port_file`; fails if the service died first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if port_file.is_file() and port_file.read_text().strip():
                return int(port_file.read_text())
            code = part.poll()
            if code is not None:
                raise RunFailed(f"{part.name} exited with code {code} before serving: "
                                f"{last_error(part.log)}")
            time.sleep(0.02)
        raise RunFailed(f"{part.name} did not start within {START_TIMEOUT_S:g} s (see {part.log})")

    def close(self, grace_s: float = 5.0) -> None:
        """SIGTERM what still runs, then SIGKILL after `grace_s`."""
        for part in self.parts:
            part.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for part in self.parts:
            part.wait(max(0.0, deadline - time.monotonic()))
            if part.poll() is None:
                part.signal(signal.SIGKILL)
                part.wait(2.0)


def _pump(popen: subprocess.Popen[bytes], log: Path, on_line: Callable[[str], None]) -> None:
    assert popen.stderr is not None
    with open(log, "ab") as fh:
        for raw in popen.stderr:
            fh.write(raw)
            fh.flush()
            try:
                on_line(raw.decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001 - a progress display must never kill the run
                pass


def last_error(log: Path) -> str:
    """The most telling line of a service log: its last error event or last line."""
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"(no log at {log})"
    for ln in reversed(lines):
        if ln.startswith("fedhealth "):
            return ln
        try:
            event = json.loads(ln)
        except json.JSONDecodeError:
            continue
        if event.get("level") == "error":
            return str(event.get("error") or event.get("event"))
    return lines[-1] if lines else f"(empty log {log})"
