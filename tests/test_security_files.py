"""What a spec can read and load: ``extends`` stays inside the spec root, only regular files are
read (with a size cap that never trusts ``st_size``), a base that is not a spec is never
quoted, merging is linear, and entry-point plugins never load from the current directory nor
unless a spec uses their op."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import archc
from archc.frontend.extends import resolve
from archc.frontend.loader import load_file

from .conftest import ROOT

SECRET = "SECRET-CANARY-7f3a"
BASE = ("name: Base\ninput: [3, 8, 8]\nlayers:\n  - {name: conv, op: conv, c: 4, k: 3}\n"
        "  - {op: global_avg_pool}\n  - {op: flatten}\n")


@pytest.fixture
def project(tmp_path):
    """A project (``pyproject.toml`` marks its root) with a spec folder, next to secrets."""
    proj = tmp_path / "proj"
    (proj / "specs").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "secret.yaml").write_text(f"name: {SECRET}\ninput: [3, 8, 8]\nlayers: []\n")
    (tmp_path / "creds.json").write_text(f'{{"aws_secret_access_key": "{SECRET}"}}\n')
    return proj


def _child(project: Path, ref: str) -> Path:
    path = project / "specs" / "child.yaml"
    path.write_text(f"extends: {ref}\nname: Child\n", encoding="utf-8")
    return path


def _refused(cli, path: Path, *extra: str) -> str:
    code, out, err = cli("check", str(path), *extra)
    assert code == 1, err
    assert err.startswith(f"{path}:1:10: error[E603]: "), err  # at the extends value
    assert SECRET not in out + err and "internal error" not in err, err
    return err.splitlines()[0]


OUTSIDE = ["../../secret.yaml", "{tmp}/secret.yaml", "{tmp}/creds.json", "/etc/passwd",
           "/proc/self/environ", "../../missing.yaml", "/nonexistent/x.yaml", "../..", "/"]


@pytest.mark.parametrize("ref", OUTSIDE)
def test_extends_outside_the_spec_root_is_one_located_error(cli, project, ref):
    """Was: the file was read and its first line quoted ('not found' vs 'not a mapping' also
    told an attacker which files exist)."""
    ref = ref.format(tmp=project.parent)
    line = _refused(cli, _child(project, ref))
    # one message whatever the target is: existence outside the root cannot be probed
    assert line.endswith("'extends' must name a file inside the spec root"), line


def test_extends_through_a_symlink_pointing_outside_is_refused(cli, project):
    (project / "specs" / "link.yaml").symlink_to(project.parent / "secret.yaml")
    (project / "specs" / "dir").symlink_to(project.parent, target_is_directory=True)
    _refused(cli, _child(project, "link.yaml"))
    _refused(cli, _child(project, "dir/secret.yaml"))


@pytest.mark.parametrize("name, make", [
    ("sub.yaml", lambda p: p.mkdir()),
    ("creds.json", lambda p: p.write_text(f'{{"key": "{SECRET}"}}')),
    ("creds", lambda p: p.write_text(f"key: {SECRET}\n")),
])
def test_extends_names_a_yaml_regular_file(cli, project, name, make):
    make(project / "specs" / name)
    _refused(cli, _child(project, name))


@pytest.mark.parametrize("content", [
    f'{{"aws_secret_access_key": "{SECRET}"}}\n',  # JSON credentials are YAML
    f"password: [{SECRET}\n",  # a YAML error
    f"- {SECRET}\n",  # not a mapping
    f"{SECRET}: 1\nname: X\n",  # a mapping, but not of spec keys
    f"name: !!python/object {SECRET}\n",  # a tag
    f"a: 1\na: {SECRET}\n",  # a duplicate key
])
def test_a_base_that_is_not_a_spec_is_never_quoted(cli, project, content):
    """Was: the base's error printed its line, e.g. the credentials' key and value."""
    (project / "specs" / "base.yaml").write_text(content, encoding="utf-8")
    line = _refused(cli, _child(project, "base.yaml"))
    assert "base.yaml" in line


def test_a_spec_base_inside_the_root_still_locates_its_own_errors(cli, project):
    (project / "specs" / "base.yaml").write_text(BASE.replace("c: 4", "c: 0"))
    code, _, err = cli("check", str(_child(project, "base.yaml")))
    assert code == 1 and f"{project / 'specs' / 'base.yaml'}:4:31: error" in err, err


def test_spec_root_option_and_argument_widen_the_root(cli, project, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "base.yaml").write_text(BASE)
    child = _child(project, "../../shared/base.yaml")
    _refused(cli, child)
    code, out, err = cli("check", str(child), "--spec-root", str(tmp_path))
    assert code == 0, err
    with pytest.raises(archc.SpecError, match="inside the spec root"):
        archc.compile_spec(child)
    assert archc.compile_spec(child, spec_root=tmp_path).name == "Child"
    assert "class Child" in archc.generate(child, spec_root=tmp_path)
    assert archc.load_spec(child, spec_root=tmp_path).spec.name == "Child"


def test_the_spec_root_is_the_nearest_project_folder(project):
    """Bases anywhere in the project (found by pyproject.toml or .git) are allowed."""
    (project / "common").mkdir()
    (project / "common" / "base.yaml").write_text(BASE)
    assert archc.compile_spec(_child(project, "../common/base.yaml")).name == "Child"
    (project / "pyproject.toml").unlink()
    with pytest.raises(archc.SpecError, match="inside the spec root"):  # own folder, else
        archc.compile_spec(_child(project, "../common/base.yaml"))
    (project / ".git").mkdir()
    assert archc.compile_spec(_child(project, "../common/base.yaml")).name == "Child"


def test_a_spec_symlinked_to_a_file_outside_the_root_is_not_quoted(cli, project):
    link = project / "specs" / "x.yaml"
    link.symlink_to(project.parent / "creds.json")
    code, out, err = cli("check", str(link))
    assert code == 1 and err.startswith(f"{link}:1:1: error[E006]: "), err
    assert SECRET not in out + err


# --------------------------------------------------------------------------- non-regular files
def _archc(args: list[str], cwd: Path, timeout: float = 30, env: dict | None = None):
    """The CLI in a subprocess, limited to 2 GiB of address space and ``timeout`` seconds."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    return subprocess.run([sys.executable, "-m", "archc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_a_fifo_spec_is_refused_without_hanging(project):
    """Was: ``archc check fifo.yaml`` blocked forever waiting for a writer."""
    fifo = project / "specs" / "fifo.yaml"
    os.mkfifo(fifo)
    proc = _archc(["check", str(fifo)], project, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"{fifo}:1:1: error[E006]: spec is not a regular file"), \
        proc.stderr
    child = _child(project, "fifo.yaml")
    proc = _archc(["check", str(child)], project, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"{child}:1:10: error[E603]: "), proc.stderr
    assert "not a regular file" in proc.stderr


def test_dev_zero_symlinked_as_a_spec_is_refused(project):
    """Was: MemoryError (exit 3) after reading /dev/zero until memory ran out."""
    link = project / "specs" / "x.yaml"
    link.symlink_to("/dev/zero")
    proc = _archc(["check", str(link), "--spec-root", "/"], project, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"{link}:1:1: error[E006]: spec is not a regular file"), \
        proc.stderr


def test_proc_files_are_read_with_a_cap_not_their_size(cli):
    """/proc files report size 0: the cap must count the bytes actually read. Was: accepted
    past --max-bytes (and parsed)."""
    code, _, err = cli("check", "/proc/self/status", "--max-bytes", "64", "--spec-root", "/")
    assert code == 1 and err.startswith("/proc/self/status:1:1: error[E005]: file is larger "
                                         "than 64 bytes"), err


# --------------------------------------------------------------------------- linear merging
def _wide(prefix: str, keys: int, value: str) -> str:
    return "".join(f"  {prefix}{i}: {value}\n" for i in range(keys))


def test_extends_merging_is_linear(tmp_path):
    """Was: every merged key scanned every position of both documents: two ~110 KB files
    took 56 s, a child with anchors 33 s."""
    (tmp_path / "base.yaml").write_text(
        "name: Base\ninput: [3, 8, 8]\nlayers: []\nparams:\n"
        + _wide("key", 5000, "{a: 1, b: [1, 2]}"))
    child = tmp_path / "child.yaml"
    child.write_text(
        "extends: base.yaml\nanchor: &a {a: 2, b: [3, 4, 5, 6, 7, 8, 9, 10]}\nparams:\n"
        + _wide("key", 8000, "*a") + "y:\n" + _wide("j", 500, "*a"))
    assert child.stat().st_size > 100_000 and (tmp_path / "base.yaml").stat().st_size > 100_000
    start = time.perf_counter()
    doc = resolve(load_file(child))
    seconds = time.perf_counter() - start
    assert doc.data["params"]["key7999"] == {"a": 2, "b": [3, 4, 5, 6, 7, 8, 9, 10]}
    # positions still follow each value: the alias's key, the anchor's value, the base's name
    assert doc.loc(("params", "key17"), key=True)[:2] == (21, 3)
    assert doc.loc(("params", "key17", "b", 7))[:2] == (2, 44)
    assert doc.origins.get(("name",)) == str(tmp_path / "base.yaml")
    assert seconds < 10, f"resolving took {seconds:.1f} s"


# --------------------------------------------------------------------------- plugins
PLUGIN = """
from pathlib import Path
Path({canary!r}).write_text("ran")
from archc.ops import Primitive
"""


def _fake_distribution(where: Path, canary: Path) -> None:
    """A distribution in ``where`` whose entry point would write ``canary`` when loaded."""
    (where / "evil_plugin.py").write_text(PLUGIN.format(canary=str(canary)))
    info = where / "evil_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[archc.primitives]\nevil = evil_plugin:Evil\nconv = evil_plugin:Evil\n")


@pytest.mark.parametrize("command", [["schema"], ["ops"], ["check", "spec.yaml"],
                                     ["summary", "spec.yaml"]])
def test_plugins_never_load_from_the_current_directory(tmp_path, command):
    """Was: every command (schema and ops included) imported every entry point found on
    sys.path, and ``python -m archc`` puts the current directory first on it."""
    canary = tmp_path / "canary"
    _fake_distribution(tmp_path, canary)
    (tmp_path / "spec.yaml").write_text(BASE + "  - {op: evil}\n")
    proc = _archc(command, tmp_path)
    assert not canary.exists(), proc.stderr
    assert proc.returncode in (0, 1) and "internal error" not in proc.stderr, proc.stderr
    if command[0] == "check":
        assert "unknown op 'evil'" in proc.stderr, proc.stderr


@pytest.fixture
def trusted_plugin(tmp_path, monkeypatch):
    """A plugin distribution in a folder treated as site-packages."""
    from archc.frontend import registry

    site = tmp_path / "site"
    site.mkdir()
    canary = tmp_path / "canary"
    _fake_distribution(site, canary)
    with open(site / "evil_plugin.py", "a") as f:
        f.write(textwrap.dedent("""
            from archc.ops.misc import Identity


            class Evil(Identity):
                op = "evil"
            """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_trusted_locations", lambda: {site.resolve()})
    registry.plugin_cache_clear()
    yield canary
    registry.plugin_cache_clear()
    sys.modules.pop("evil_plugin", None)


def test_plugins_load_only_when_a_spec_uses_their_op(trusted_plugin, tmp_path, monkeypatch):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE)
    archc.compile_spec(spec)
    archc.frontend.registry.builtin_ops()
    from archc.frontend.schema import schema_text

    schema_text()
    assert not trusted_plugin.exists()
    spec.write_text(BASE + "  - {op: evil}\n")
    monkeypatch.setenv("ARCHC_NO_PLUGINS", "1")
    with pytest.raises(archc.SpecError, match="unknown op 'evil'"):
        archc.compile_spec(spec)
    assert not trusted_plugin.exists()
    monkeypatch.delenv("ARCHC_NO_PLUGINS")
    assert archc.compile_spec(spec).output_shape == (4,)
    assert trusted_plugin.exists()
