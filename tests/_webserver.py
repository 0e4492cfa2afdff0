"""A real ``immunotwin serve`` process on a free loopback port, for the web tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def serve(data_dir: Path, *args: str, timeout: float = 120.0) -> Iterator[Server]:
    """Start the server on ``data_dir`` (extra ``immunotwin serve`` options in ``args``), wait until it
    answers, yield it, and stop it at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "immunotwin", "serve", "--port", str(port), "--data-dir",
                                 str(data_dir), "--log-level", "warning", *args],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(f"http://127.0.0.1:{port}", proc, log, data_dir)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(server.url + "/api/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {timeout:g} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def wait_for_trial(client: httpx.Client, run_id: str, timeout: float = 600.0) -> dict:
    """Poll a trial job until it is done or failed; return its last status."""
    deadline = time.monotonic() + timeout
    while True:
        st = client.get(f"/api/trials/{run_id}").json()
        if st["status"] in ("done", "failed"):
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"trial {run_id} still {st['status']} after {timeout:g} s")
        time.sleep(0.5)
