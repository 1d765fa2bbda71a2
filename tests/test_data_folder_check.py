"""Folder datasets: every bad file is named at registration, skipped only when asked, and a
decode that still fails names its file.

A corrupt or truncated JPEG, a zero-byte PNG, a text file named .png and a 20000 x 20000 PNG all
registered fine; decoding then ended in a traceback naming no file, and `fill` failed every cell.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxystore.data import folder as folder_module
from proxystore.data.cache import decoded
from proxystore.data.registry import get_dataset, register_dataset
from proxystore.data.sources import load_source
from proxystore.db.models import SqlDataset, SqlExample
from proxystore.errors import DataError
from tests.folders import PROBLEMS, bomb_png, broken_files, good_tree, png_bytes, write_tree
from tests.helpers import run_cli


@pytest.fixture(scope="session")
def bomb() -> bytes:
    return bomb_png()


def row_counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(SqlDataset)),
                session.scalar(select(func.count()).select_from(SqlExample)))


def broken_tree(root: Path, bomb: bytes) -> Path:
    return write_tree(good_tree(root), broken_files(bomb))


def test_every_bad_file_is_named_and_nothing_is_registered(db, tmp_path, bomb) -> None:
    root = broken_tree(tmp_path / "tree", bomb)
    with pytest.raises(DataError) as raised:
        register_dataset(db, "pets", f"folder:{root}")
    message = str(raised.value)
    assert message.startswith(f"folder source {root}: 5 of 13 image files are bad: ")
    for relative, problem in PROBLEMS.items():
        assert f"{relative}: {problem}" in message, relative
    assert message.endswith("leave them out with --skip-bad (skip_bad: true in a spec)")
    assert "\n" not in message
    assert row_counts(db) == (0, 0)


def test_the_first_ten_bad_files_are_named_and_the_rest_counted(sqlite_db, tmp_path) -> None:
    root = write_tree(good_tree(tmp_path / "tree"),
                      {f"train/a/empty{i:02d}.png": b"" for i in range(12)})
    with pytest.raises(DataError) as raised:
        register_dataset(sqlite_db, "pets", f"folder:{root}")
    message = str(raised.value)
    assert "12 of 20 image files are bad" in message
    assert message.count(": empty file (0 bytes)") == 10
    assert "train/a/empty09.png" in message and "train/a/empty10.png" not in message
    assert "; and 2 more. " in message


def test_skip_bad_leaves_them_out_and_records_them(db, tmp_path, bomb) -> None:
    root = broken_tree(tmp_path / "tree", bomb)
    info = register_dataset(db, "pets", f"folder:{root}", skip_bad=True)
    assert (info.train_count, info.val_count, info.num_classes) == (6, 2, 2)
    assert info.options["skipped"] == PROBLEMS
    assert "skip_bad" not in info.options  # what was skipped is what defines the content
    # The fingerprint says so: the same good files without the bad ones are other content.
    _, _, clean = load_source(f"folder:{good_tree(tmp_path / 'clean')}")
    assert clean.content != info.fingerprint
    data = decoded(db, "pets", 8, cache_dir=tmp_path / "cache")
    assert data.train.shape == (6, 3, 8, 8)
    assert (data.train[:3] == 40).all() and (data.train[3:] == 200).all()


def test_skip_bad_from_a_spec_is_recorded(db, tmp_path, bomb) -> None:
    from proxystore.study.register import register_datasets
    from proxystore.study.spec import parse_spec

    root = broken_tree(tmp_path / "tree", bomb)
    spec = parse_spec(textwrap.dedent(f"""
        name: pets
        datasets: {{pets: {{source: "folder:{root}", skip_bad: true}}}}
        defaults: {{image_size: 8, epochs: 1}}
        tasks: {{t: {{dataset: pets}}}}
        candidates: {{architectures: {{listed: {{r: "timm:resnet10t"}}}}}}
    """))
    infos = register_datasets(db, spec)
    assert sorted(infos["pets"].options["skipped"]) == sorted(PROBLEMS)
    assert get_dataset(db, "pets").train_count == 6


def test_a_folder_without_bad_files_keeps_its_fingerprint(sqlite_db, tmp_path) -> None:
    """Registered before the check existed: the same (path, size, label) digest as always."""
    root = good_tree(tmp_path / "tree")
    info = register_dataset(sqlite_db, "pets", f"folder:{root}")
    digest = hashlib.sha256(b"proxystore-folder-v1")
    for split in ("train", "val"):
        for file in sorted(root.glob(f"{split}/*/*")):
            label = "ab".index(file.parent.name)
            relative = file.relative_to(root).as_posix()
            digest.update(f"{relative}\t{file.stat().st_size}\t{label}\n".encode())
    assert info.fingerprint == digest.hexdigest()
    assert info.options == {"mode": "RGB", "found_modes": {"RGB": 8}}


def test_registering_again_and_decoding_do_not_check_again(sqlite_db, tmp_path,
                                                           monkeypatch) -> None:
    root = good_tree(tmp_path / "tree")
    first = register_dataset(sqlite_db, "pets", f"folder:{root}")

    def no_second_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("every file was checked again")

    monkeypatch.setattr(folder_module, "check_files", no_second_check)
    assert register_dataset(sqlite_db, "pets", f"folder:{root}") == first
    assert decoded(sqlite_db, "pets", 8, cache_dir=tmp_path / "cache").train.shape[0] == 6
    (root / "train" / "a" / "new.png").write_bytes(png_bytes((1, 2, 3)))  # content changed:
    with pytest.raises(AssertionError, match="checked again"):  # the full registration runs
        register_dataset(sqlite_db, "pets", f"folder:{root}")


@pytest.mark.parametrize("per_class", [3, 300])  # in this process; over the process pool
def test_a_file_that_breaks_after_registration_is_named_by_the_decode(
        sqlite_db, tmp_path, per_class) -> None:
    root = good_tree(tmp_path / "tree", per_class=per_class)
    register_dataset(sqlite_db, "pets", f"folder:{root}")
    victim = root / "train" / "b" / f"{per_class - 1:05d}.png"
    victim.write_bytes(b"x" * victim.stat().st_size)  # same size: the fingerprint can't tell
    with pytest.raises(DataError) as raised:
        decoded(sqlite_db, "pets", 8, cache_dir=tmp_path / "cache")
    assert str(raised.value) == f"{victim}: cannot decode: not an image PIL can read"
    assert not list((tmp_path / "cache").glob("*/COMPLETE"))


def test_cli_names_bad_files_in_one_line_and_skips_them_when_asked(tmp_path, bomb) -> None:
    root = broken_tree(tmp_path / "tree", bomb)
    db = str(tmp_path / "t.db")
    refused = run_cli("data", "add", "pets", f"folder:{root}", "--db", db)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith(f"proxystore: error: folder source {root}: 5 of 13 ")
    assert refused.stderr.count("\n") == 1
    added = run_cli("data", "add", "pets", f"folder:{root}", "--skip-bad", "--db", db)
    assert added.returncode == 0, added.stderr
    assert "left out 5 bad files" in added.stdout and "train/a/truncated.jpg" in added.stdout
    shown = run_cli("data", "show", "pets", "--db", db)
    assert shown.returncode == 0, shown.stderr
    assert "decoded as RGB" in shown.stdout and "left out 5 bad files" in shown.stdout
    assert "val/b/bomb.png: 20000 x 20000 pixels" in shown.stdout


def test_bad_folder_options_are_one_line(sqlite_db, tmp_path) -> None:
    root = good_tree(tmp_path / "tree")
    with pytest.raises(DataError, match="mode must be L .grey. or RGB, got 'CMYK'"):
        register_dataset(sqlite_db, "pets", f"folder:{root}", mode="CMYK")
    with pytest.raises(DataError, match="skip_bad must be true or false, got 'yes'"):
        register_dataset(sqlite_db, "pets", f"folder:{root}", skip_bad="yes")


def test_the_check_gives_the_same_answers_over_the_process_pool(tmp_path, bomb,
                                                                 monkeypatch) -> None:
    """Big folders on 4+ cores are checked over a pool (CI has 2 cores: forced here)."""
    root = broken_tree(tmp_path / "tree", bomb)
    files = sorted(str(p) for p in root.glob("*/*/*"))
    alone = folder_module.check_files(files, "one process")
    monkeypatch.setattr(folder_module, "CHECK_POOL_MIN_FILES", 1)
    monkeypatch.setattr(folder_module, "CHECK_POOL_MIN_CORES", 1)
    monkeypatch.setattr(folder_module.os, "cpu_count", lambda: 2)
    assert folder_module.check_files(files, "pool") == alone
    assert sum(problem is not None for _, _, problem in alone) == 5


def test_the_jpeg_end_check_has_no_false_alarms(tmp_path) -> None:
    """Bytes after the end marker (some cameras) and an EXIF thumbnail's own end marker."""
    import io

    from PIL import Image

    from proxystore.data.images import inspect_file
    from tests.folders import noisy_jpeg_bytes

    jpeg = noisy_jpeg_bytes()
    thumb = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(thumb, format="JPEG")
    exif = b"Exif\x00\x00" + thumb.getvalue()  # an APP1 segment holding FF D9 of its own
    with_thumb = jpeg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + jpeg[2:]
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="JPEG", progressive=True)
    progressive = buffer.getvalue()
    cases = {"trailing.jpg": (jpeg + b"\0camera data" * 50, None),
             "thumb.jpg": (with_thumb, None),
             "thumb-cut.jpg": (with_thumb[: len(with_thumb) * 2 // 3], "truncated JPEG"),
             "progressive.jpg": (progressive, None),
             "progressive-cut.jpg": (progressive[: len(progressive) * 2 // 3], "truncated JPEG")}
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        _, _, problem = inspect_file(str(tmp_path / name))
        assert (problem or "").startswith(expected or ""), name
        assert (problem is None) == (expected is None), name
