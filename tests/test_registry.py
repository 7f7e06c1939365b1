"""The model registry (issue 10.5): archc.list_models / create_model, ``archc build NAME``, and
the committed specs as package data of an installed wheel, used from outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

import archc

from .conftest import ROOT, SPECS


def test_list_models_names_every_committed_spec_sorted():
    names = sorted(p.stem for p in SPECS.glob("*.yaml"))
    assert archc.list_models() == names and "mobilenet_v2" in names
    assert archc.list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34",
                                            "resnet50"]
    assert archc.list_models("nothing*") == []


@pytest.mark.parametrize("name", ["mobilenet_v3", "../specs/resnet18", "resnet18.yaml", ""])
def test_an_unregistered_name_is_a_value_error_with_a_hint(name):
    with pytest.raises(ValueError, match=f"no registered model {name!r}"):
        archc.create_model(name)


def test_create_model_builds_the_registered_spec():
    model = archc.create_model("lenet5")
    assert type(model).__name__ == "LeNet5"
    assert sum(p.numel() for p in model.parameters()) == 61_706


def test_create_model_passes_weights_params_and_features_only(tmp_path):
    import torch

    torch.manual_seed(0)
    trained = archc.create_model("resnet18", num_classes=10)
    torch.save(trained.state_dict(), tmp_path / "trained.pth")
    model = archc.create_model("resnet18", num_classes=10, weights=str(tmp_path / "trained.pth"))
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in model.state_dict().items())
    backbone = archc.create_model("resnet18", features_only=True,
                                  weights=str(tmp_path / "trained.pth"))
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in backbone.state_dict().items())
    maps = backbone.eval()(torch.zeros(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == [64, 128, 256, 512]


def test_archc_build_resolves_a_registered_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = cli("build", "mobilenet_v2", "-o", str(tmp_path / "by_name"))
    assert code == 0, err
    code, _, err = cli("build", "specs/mobilenet_v2.yaml", "-o", str(tmp_path / "by_path"))
    assert code == 0, err
    by_name = (tmp_path / "by_name" / "mobilenet_v2.py").read_text(encoding="utf-8")
    assert by_name == (tmp_path / "by_path" / "mobilenet_v2.py").read_text(encoding="utf-8")


def test_a_path_wins_over_a_registered_name(cli, tmp_path, monkeypatch, write_spec):
    """An existing file of that name is built, and a name that is neither stays the error it
    was (a missing spec file)."""
    monkeypatch.chdir(tmp_path)
    write_spec((SPECS / "lenet5.yaml").read_text(encoding="utf-8"), name="mobilenet_v2")
    code, _, err = cli("build", "mobilenet_v2", "-o", "out")
    assert code == 0, err
    assert "class LeNet5(" in (tmp_path / "out" / "mobilenet_v2.py").read_text(encoding="utf-8")
    code, _, err = cli("build", "mobilenet_v9", "-o", "out")
    assert code == 2 and "mobilenet_v9" in err  # a SPEC that cannot be read: usage


def test_an_installed_wheel_carries_the_registry(tmp_path):
    """pip builds a wheel of the checkout (a copy of what the wheel is made from), installs it
    into a folder, and a process started elsewhere lists, builds and creates models."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "specs", src / "specs")
    shutil.copytree(ROOT / "archc", src / "archc", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel")], check=True, cwd=tmp_path, timeout=300)
    [wheel] = (tmp_path / "wheel").glob("archc-*.whl")
    specs = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("archc/specs/")}
    assert specs == {f"archc/specs/{p.name}" for p in SPECS.glob("*.yaml")}
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = textwrap.dedent(f"""
        import archc, torch
        assert archc.__file__.startswith({str(site)!r}), archc.__file__
        assert archc.list_models() == {archc.list_models()!r}
        model = archc.create_model("lenet5", num_classes=7)
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
        from archc.cli import main
        assert main(["build", "squeezenet1_1", "-o", "out"]) == 0
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    assert (elsewhere / "out" / "squeezenet1_1.py").is_file()
