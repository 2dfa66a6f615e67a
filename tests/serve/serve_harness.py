"""Starts `imp serve` on a free port for the serve tests and the load benchmark, and stops it."""
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Server:
    def __init__(self, imp, model, *flags):
        self.proc = subprocess.Popen([imp, "serve", "--model", model, "--port", "0", *flags],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        deadline = time.time() + 120
        while self.port is None:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("imp serve exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            m = re.search(r"on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if time.time() > deadline:
                raise RuntimeError("imp serve did not start in 120 s")
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, body bytes) of one request; HTTP errors are returned, not raised."""
        data = body if isinstance(body, (bytes, type(None))) else body.encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def python_with(module):
    """Fails clearly when the venv made by scripts/setup.sh lacks a module."""
    try:
        __import__(module)
    except ImportError:
        raise SystemExit(f"python module '{module}' missing: run scripts/setup.sh (it makes .venv-serve)")
