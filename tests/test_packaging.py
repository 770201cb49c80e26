"""A plain (non-editable) install must carry everything the app reads from disk.

The slow test builds a wheel from a copy of the source and reads its file list; the quick
ones check that pyproject.toml names every package, and that forum/paths.py finds the
files both in a checkout and in the installed layout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from forum import paths

ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("forum", "moderation", "notifications")
# Top-level folder in the source tree -> folder in the wheel.
ASSET_FOLDERS = {
    "templates": "hearth_assets/templates",
    "static": "hearth_assets/static",
    "migrations": "hearth_assets/migrations",
}
SKIPPED = {"__pycache__"}


def _files_under(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not SKIPPED.intersection(p.parts) and p.suffix != ".pyc"
    )


def _expected_wheel_entries() -> set[str]:
    """Every file the app needs, named as it must appear inside the wheel."""
    expected = set()
    for package in CODE_PACKAGES:
        for path in _files_under(ROOT / package):
            if path.suffix in {".py", ".toml", ".tsv", ".txt"}:
                expected.add(path.relative_to(ROOT).as_posix())
    for source, target in ASSET_FOLDERS.items():
        for path in _files_under(ROOT / source):
            expected.add(f"{target}/{path.relative_to(ROOT / source).as_posix()}")
    return expected


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_python_package_is_listed_in_pyproject():
    listed = set(_setuptools_config()["packages"])
    on_disk = {
        ".".join(folder.relative_to(ROOT).parts)
        for package in CODE_PACKAGES
        for folder in [ROOT / package, *(ROOT / package).rglob("*")]
        if folder.is_dir() and not SKIPPED.intersection(folder.parts) and any(folder.glob("*.py"))
    }
    assert on_disk, "no packages found"
    missing = on_disk - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    code_listed = {name for name in listed if name.split(".")[0] in CODE_PACKAGES}
    gone = {name for name in code_listed if not (ROOT / name.replace(".", "/")).is_dir()}
    assert not gone, f"listed in pyproject.toml but not on disk: {gone}"


def test_asset_folders_are_mapped_into_hearth_assets():
    package_dir = _setuptools_config()["package-dir"]
    assert package_dir == {
        target.replace("/", "."): source for source, target in ASSET_FOLDERS.items()
    }


def test_paths_find_the_checkout():
    assert paths.is_source_checkout()
    assert paths.templates_dir() == ROOT / "templates"
    assert (paths.templates_dir() / "base.html").is_file()
    assert (paths.static_dir() / "hearth.css").is_file()
    assert (paths.migrations_dir() / "env.py").is_file()


def test_instance_folder_in_a_checkout_and_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.INSTANCE_PATH_VARIABLE, raising=False)
    assert paths.instance_dir() == ROOT / "instance"
    monkeypatch.setenv(paths.INSTANCE_PATH_VARIABLE, str(tmp_path / "data"))
    assert paths.instance_dir() == tmp_path / "data"


def test_paths_find_the_installed_layout(monkeypatch, tmp_path):
    """As in site-packages: no pyproject.toml beside forum/, assets in hearth_assets/."""
    site = tmp_path / "site-packages"
    for target in ASSET_FOLDERS.values():
        (site / target).mkdir(parents=True)
    (site / "hearth_assets/templates/base.html").write_text("<!doctype html>")
    monkeypatch.setattr(paths, "PACKAGE_PARENT", site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(paths.INSTANCE_PATH_VARIABLE, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    paths.assets_root.cache_clear()
    try:
        assert not paths.is_source_checkout()
        assert paths.templates_dir() == site / "hearth_assets/templates"
        assert paths.static_dir() == site / "hearth_assets/static"
        assert paths.migrations_dir() == site / "hearth_assets/migrations"
        assert paths.instance_dir() == work.resolve() / "instance"
    finally:
        paths.assets_root.cache_clear()


def _setuptools_is_recent() -> bool:
    try:
        major = int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return False
    return major >= 77


@pytest.mark.slow
def test_the_wheel_carries_templates_static_files_migrations_and_data(tmp_path):
    # Build from a copy, so the shared working tree gets no build/ or egg-info folders.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in (*CODE_PACKAGES, *ASSET_FOLDERS):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)

    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path)]
    if _setuptools_is_recent():
        command.append("--no-build-isolation")  # no download when the venv has it already
    result = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("hearth-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    for must_have in (
        "hearth_assets/templates/base.html",
        "hearth_assets/templates/threads/thread.html",
        "hearth_assets/templates/email/new_post.txt",
        "hearth_assets/static/hearth.css",
        "hearth_assets/static/hearth.js",
        "hearth_assets/migrations/env.py",
        "hearth_assets/migrations/alembic.ini",
        "hearth_assets/migrations/script.py.mako",
        "hearth_assets/migrations/versions/0001_forum_core.py",
        "forum/courses/demo_course.toml",
        "forum/demo_content.toml",
        "forum/paths.py",
    ):
        assert must_have in names, f"{must_have} is missing from the wheel"
    missing = _expected_wheel_entries() - names
    assert not missing, f"missing from the wheel: {sorted(missing)}"
    # Nothing lands at the top level of site-packages under a generic name.
    top_level = {name.split("/")[0] for name in names if not name.startswith("hearth-")}
    assert top_level == {"forum", "moderation", "notifications", "hearth_assets"}
