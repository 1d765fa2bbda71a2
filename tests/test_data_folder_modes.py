"""Folder datasets: the mode rule (majority, or the `mode` option) and 16-bit images.

16-bit images were clipped to 255, and the first file alone decided whether a folder was grey.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from proxystore.data.cache import decoded
from proxystore.data.registry import get_dataset, register_dataset
from proxystore.errors import DataError
from tests.folders import png_bytes, write_tree
from tests.helpers import run_cli


def palette_png(entries: list[tuple[int, int, int]], index: int = 1) -> bytes:
    import io

    image = Image.new("P", (8, 8), index)
    image.putpalette([c for entry in entries for c in entry])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mixed_tree(root):  # type: ignore[no-untyped-def]
    """First training file grey, most files colour."""
    return write_tree(root, {
        "train/a/0.png": png_bytes(90, "L"),
        "train/a/1.png": png_bytes((255, 0, 0)),
        "train/b/0.png": png_bytes((0, 0, 255, 0), "RGBA"),
        "train/b/1.png": palette_png([(0, 0, 0), (0, 200, 0)]),
        "val/a/0.png": png_bytes((255, 0, 0)),
        "val/b/0.png": png_bytes(30, "L"),
    })


def test_a_mixed_folder_is_decoded_in_the_mode_of_most_files(db, tmp_path) -> None:
    info = register_dataset(db, "mixed", f"folder:{mixed_tree(tmp_path / 'tree')}")
    assert info.channels == 3
    assert info.options["mode"] == "RGB"
    assert info.options["found_modes"] == {"L": 2, "P": 1, "RGB": 2, "RGBA": 1}
    data = decoded(db, "mixed", 8, cache_dir=tmp_path / "cache")
    pixels = [tuple(int(c) for c in data.train[i, :, 0, 0]) for i in range(4)]
    # grey replicated; alpha dropped, not composited; the palette's colour.
    assert pixels == [(90, 90, 90), (255, 0, 0), (0, 0, 255), (0, 200, 0)]


def test_the_mode_option_overrides_the_majority(sqlite_db, tmp_path) -> None:
    root = mixed_tree(tmp_path / "tree")
    info = register_dataset(sqlite_db, "grey", f"folder:{root}", mode="l")
    assert info.channels == 1 and info.options["mode"] == "L"
    data = decoded(sqlite_db, "grey", 8, cache_dir=tmp_path / "cache")
    # ITU-R 601-2 luma: L = (299 R + 587 G + 114 B) / 1000.
    assert data.train[:, 0, 0, 0].tolist() == [90, 76, 29, 117]
    # The same files as RGB are other content: a second name is not refused as an alias.
    assert register_dataset(sqlite_db, "colour", f"folder:{root}").fingerprint != info.fingerprint


def test_grey_palettes_count_as_grey_and_a_tie_is_rgb(sqlite_db, tmp_path) -> None:
    root = write_tree(tmp_path / "tree", {
        "train/a/0.png": png_bytes((1, 2, 3)),
        "train/a/1.png": palette_png([(0, 0, 0), (77, 77, 77)]),
        "train/b/0.png": png_bytes((9, 0), "LA"),
        "val/a/0.png": png_bytes((40, 60, 80, 0), "RGBA"),
    })
    info = register_dataset(sqlite_db, "tie", f"folder:{root}")  # 2 grey, 2 colour
    assert info.options["mode"] == "RGB"
    assert info.options["found_modes"] == {"LA": 1, "P": 1, "RGB": 1, "RGBA": 1}
    data = decoded(sqlite_db, "tie", 8, cache_dir=tmp_path / "cache")
    assert data.train[:, :, 0, 0].tolist() == [[1, 2, 3], [77, 77, 77], [9, 9, 9]]


def test_majority_counts_every_kept_file(sqlite_db, tmp_path) -> None:
    root = write_tree(tmp_path / "tree", {
        "train/a/0.png": png_bytes((1, 2, 3)), "train/a/1.png": png_bytes(5, "L"),
        "train/b/0.png": palette_png([(0, 0, 0), (77, 77, 77)]), "val/b/0.png": png_bytes(7, "L"),
    })
    info = register_dataset(sqlite_db, "grey", f"folder:{root}")
    assert info.options["mode"] == "L" and info.channels == 1
    data = decoded(sqlite_db, "grey", 8, cache_dir=tmp_path / "cache")
    assert data.train[:, 0, 0, 0].tolist() == [2, 5, 77] and data.val[0, 0, 0, 0] == 7


def test_sixteen_bit_images_are_scaled_not_clipped(db, tmp_path) -> None:
    values = np.array([[0, 257, 65535, 1000]], np.uint16).repeat(4, axis=0)
    root = tmp_path / "tree"
    for relative in ("train/a/0.png", "val/a/0.png"):
        (root / relative).parent.mkdir(parents=True)
        Image.fromarray(values).save(root / relative)
    assert Image.open(root / "train/a/0.png").mode == "I;16"
    info = register_dataset(db, "deep", f"folder:{root}")
    assert info.channels == 1 and info.options["found_modes"] == {"I;16": 2}
    data = decoded(db, "deep", 4, cache_dir=tmp_path / "cache")
    assert data.train[0, 0, 0].tolist() == [0, 1, 255, 4]  # round(v / 257); 1000 was 255


def test_cli_add_and_show_say_which_mode_a_mixed_folder_was_decoded_in(tmp_path) -> None:
    root = mixed_tree(tmp_path / "tree")
    db = str(tmp_path / "t.db")
    added = run_cli("data", "add", "mixed", f"folder:{root}", "--db", db)
    assert added.returncode == 0, added.stderr
    line = "decoded as RGB (mixed folder); files by PIL mode: 2 L, 2 RGB, 1 P, 1 RGBA"
    assert line in added.stdout
    shown = run_cli("data", "show", "mixed", "--db", db)
    assert line in shown.stdout
    grey = run_cli("data", "add", "grey", f"folder:{root}", "--mode", "L", "--db", db)
    assert grey.returncode == 0, grey.stderr
    assert "decoded as L (mixed folder)" in grey.stdout


@pytest.mark.parametrize("mode", ["F", "I"])
def test_wide_images_out_of_range_are_named_at_decode(sqlite_db, tmp_path, mode) -> None:
    bad = np.array([[2.0, 0.5]], np.float32) if mode == "F" else np.array([[70000, 5]], np.int32)
    root = tmp_path / "tree"
    for relative in ("train/a/0.tif", "val/a/0.tif"):
        (root / relative).parent.mkdir(parents=True)
        Image.fromarray(bad).save(root / relative)
    register_dataset(sqlite_db, "wide", f"folder:{root}")
    assert get_dataset(sqlite_db, "wide").channels == 1
    with pytest.raises(DataError, match=f"{root / 'train/a/0.tif'}: cannot decode: .*outside"):
        decoded(sqlite_db, "wide", 2, cache_dir=tmp_path / "cache")


def test_a_mode_that_converts_to_neither_is_a_bad_file(sqlite_db, tmp_path) -> None:
    root = write_tree(tmp_path / "tree", {"train/a/0.png": png_bytes(5, "L"),
                                          "val/a/0.png": png_bytes(5, "L")})
    Image.new("LAB", (4, 4)).save(root / "train" / "a" / "lab.tif")
    with pytest.raises(DataError, match="1 of 3 image files are bad: train/a/lab.tif: PIL mode "
                                        "LAB cannot be converted to L or RGB"):
        register_dataset(sqlite_db, "lab", f"folder:{root}")
