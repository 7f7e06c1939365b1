"""The spec modeline works in yaml-language-server: a real server, driven over stdio, validates
specs against schema/archc.schema.json. Runs where the server is installed (.ci/run installs
it under .ci/node with npm); skipped elsewhere."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT

SERVER = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "yaml-language-server"
pytestmark = pytest.mark.skipif(not SERVER.exists() or shutil.which("node") is None,
                                reason="yaml-language-server not installed")


class Client:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            header += self.proc.stdout.read(1)
        length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        return json.loads(self.proc.stdout.read(length))

    def diagnostics(self, path: Path, timeout: float = 60) -> list[dict]:
        self.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": os.getpid(), "rootUri": path.parent.as_uri(), "capabilities": {}}})
        deadline = time.time() + timeout
        while time.time() < deadline and (m := self.read(1)) is not None and m.get("id") != 1:
            pass
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        self.send({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {
            "settings": {"yaml": {"validate": True, "schemaStore": {"enable": False}}}}})
        self.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": path.as_uri(), "languageId": "yaml", "version": 1,
                             "text": path.read_text(encoding="utf-8")}}})
        last: list[dict] = []
        while time.time() < deadline:
            m = self.read(3)
            if m is None and last is not None:
                return last
            if m and m.get("method") == "textDocument/publishDiagnostics":
                last = m["params"]["diagnostics"]
        return last

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _check(tmp_path: Path, text: str) -> list[dict]:
    (tmp_path / "schema").mkdir(exist_ok=True)
    shutil.copy(ROOT / "schema" / "archc.schema.json", tmp_path / "schema")
    (tmp_path / "specs").mkdir(exist_ok=True)
    path = tmp_path / "specs" / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    client = Client()
    try:
        return client.diagnostics(path)
    finally:
        client.close()


def test_modeline_reports_schema_errors(tmp_path):
    diags = _check(tmp_path, "# yaml-language-server: $schema=../schema/archc.schema.json\n"
                             "name: X\ninput: [3, 32, 32]\nlayers:\n"
                             "  - {name: conv, op: conv, c: 8, k: 3, stride: 2}\n"
                             "  - {name: fc, op: linear}\n")
    messages = {(d["range"]["start"]["line"], d["message"]) for d in diags}
    assert (4, "Property stride is not allowed.") in messages
    assert any(line == 5 and '"c"' in msg for line, msg in messages)


def test_real_spec_is_clean_in_the_editor(tmp_path):
    diags = _check(tmp_path, (ROOT / "specs" / "mobilenet_v3_large.yaml").read_text())
    assert diags == []
