"""An installed wheel, outside any checkout, can create and upgrade a database."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_wheel_creates_and_upgrades_a_database_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = dist.glob("proxystore-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "proxystore/migrations/env.py" in names
    assert any(n.startswith("proxystore/migrations/versions/0001_") for n in names)
    assert "proxystore/migrations/script.py.mako" in names
    assert "proxystore/tracking/store.py" in names  # every package folder is listed

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True)
    # Dependencies come from this environment (installing torch again would take minutes); the
    # .pth line adds its site-packages after the new venv's own, where the wheel's copy lives.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], check=True, capture_output=True,
                             text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    with open(os.path.join(purelib, "zz_deps.pth"), "w") as f:
        f.write("\n".join(sorted(ours)) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROXYSTORE_DB")}
    where = subprocess.run([str(python), "-c", "import proxystore; print(proxystore.__file__)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    db = elsewhere / "fresh.db"
    result = subprocess.run([str(venv / "bin" / "proxystore"), "db", "upgrade", "--db", str(db)],
                            cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "schema empty ->" in result.stdout, result.stdout
    check = subprocess.run([str(venv / "bin" / "proxystore"), "db", "check", "--db", str(db)],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
