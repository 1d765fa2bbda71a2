"""Array sources (.npz): the pixel scale comes from the dtype and `scale`, labels are checked.

Float images in [0, 1] holding one NaN or one 1.0001 were cast as if they were 0-255 (every image
nearly black); labels such as 9e12 registered as 9,000,000,000,001 classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from proxystore.data.cache import decoded
from proxystore.data.registry import register_dataset
from proxystore.db.models import SqlDataset, SqlExample
from proxystore.errors import DataError
from proxystore.limits import MAX_CLASSES
from tests.helpers import run_cli


def row_counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(SqlDataset)),
                session.scalar(select(func.count()).select_from(SqlExample)))


def float_images(n: int = 40) -> np.ndarray:
    """Float images in [0, 1] with mean about 0.30 (what a researcher's npz holds)."""
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(0.3, 0.1, (n, 6, 6)), 0, 1)


def labels(n: int = 40) -> np.ndarray:
    return np.arange(n) % 4


def write_npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_float_images_in_0_1_decode_to_their_brightness(sqlite_db, tmp_path) -> None:
    x = float_images()
    register_dataset(sqlite_db, "f", write_npz(tmp_path / "f.npz", x_train=x, y_train=labels(),
                                                 x_val=x[:8], y_val=labels(8)))
    data = decoded(sqlite_db, "f", 6, cache_dir=tmp_path / "cache")
    assert np.array_equal(data.train[:, 0], np.floor(x * 255 + 0.5))
    assert data.mean[0] == pytest.approx(float(x.mean()), abs=0.003)


@pytest.mark.parametrize(("bad", "shown"), [(1.0001, "1.0001"), (np.nan, "nan"),
                                            (np.inf, "inf"), (-0.5, "-0.5")])
def test_one_float_out_of_0_1_is_refused_naming_array_and_index(db, tmp_path, bad, shown) -> None:
    """One 1.0001 used to switch the whole array to 0-255: mean 0.0004 instead of 0.30."""
    x = float_images()
    x[7, 3, 5] = bad
    source = write_npz(tmp_path / "f.npz", x_train=x, y_train=labels())
    with pytest.raises(DataError) as raised:
        register_dataset(db, "f", source)
    message = str(raised.value)
    assert message.startswith(f"{source}: x_train[7, 3, 5] is {shown}: ")
    assert "in [0, 1]" in message and "scale" in message and "\n" not in message
    assert row_counts(db) == (0, 0)


def test_float_images_in_0_255_need_scale_255(sqlite_db, tmp_path) -> None:
    x = np.random.default_rng(1).uniform(0, 255, (40, 6, 6))
    source = write_npz(tmp_path / "f.npz", x_train=x, y_train=labels())
    with pytest.raises(DataError, match=r"x_train\[\d+, \d+, \d+\] is .*: .*scale: 255"):
        register_dataset(sqlite_db, "f", source)
    info = register_dataset(sqlite_db, "f", source, scale=255)
    assert info.options["scale"] == 255
    data = decoded(sqlite_db, "f", 6, cache_dir=tmp_path / "cache")
    everything = np.concatenate([data.train[:, 0], data.val[:, 0]]).astype(np.float64)
    assert sorted(everything.ravel()) == sorted(np.floor(x + 0.5).ravel())


def test_sixteen_bit_images_are_scaled_by_1_over_257(sqlite_db, tmp_path) -> None:
    x = np.array([[[0, 257], [65535, 32896]]] * 8, np.uint16)
    register_dataset(sqlite_db, "u16", write_npz(tmp_path / "u.npz", x_train=x,
                                                 y_train=labels(8), x_val=x[:4],
                                                 y_val=labels(4)))
    data = decoded(sqlite_db, "u16", 2, cache_dir=tmp_path / "cache")
    assert data.train[0, 0].tolist() == [[0, 1], [255, 128]]


def test_sixteen_bit_array_holding_only_8_bit_values_must_say_which(sqlite_db, tmp_path) -> None:
    x = np.full((8, 2, 2), 200, np.uint16)
    source = write_npz(tmp_path / "u.npz", x_train=x, y_train=labels(8), x_val=x[:4],
                       y_val=labels(4))
    with pytest.raises(DataError, match="x_train is uint16 but no value exceeds 255: give "
                                        "scale: 255 .* or scale: 65535"):
        register_dataset(sqlite_db, "u", source)
    register_dataset(sqlite_db, "u", source, scale=255)
    assert decoded(sqlite_db, "u", 2, cache_dir=tmp_path / "c").train[0, 0, 0].tolist() == [200,
                                                                                           200]


def test_integer_arrays_of_8_bit_values_are_kept(sqlite_db, tmp_path) -> None:
    x = np.random.default_rng(2).integers(0, 256, (8, 3, 3)).astype(np.int64)
    register_dataset(sqlite_db, "i", write_npz(tmp_path / "i.npz", x_train=x, y_train=labels(8),
                                               x_val=x, y_val=labels(8)))
    assert np.array_equal(decoded(sqlite_db, "i", 3, cache_dir=tmp_path / "c").val[:, 0], x)
    x[2, 1, 1] = 256
    with pytest.raises(DataError, match=r"x_train\[2, 1, 1\] is 256: .*in \[0, 255\]"):
        register_dataset(sqlite_db, "j", write_npz(tmp_path / "j.npz", x_train=x,
                                                   y_train=labels(8)))


@pytest.mark.parametrize("scale", [0, -1, float("nan"), "white", True])
def test_scale_must_be_a_positive_number(sqlite_db, tmp_path, scale) -> None:
    source = write_npz(tmp_path / "f.npz", x_train=float_images(), y_train=labels())
    with pytest.raises(DataError, match="scale must be a positive number"):
        register_dataset(sqlite_db, "f", source, scale=scale)


def test_scale_is_refused_by_sources_that_do_not_take_it(sqlite_db) -> None:
    with pytest.raises(DataError, match="takes no option scale"):
        register_dataset(sqlite_db, "d", "sklearn:digits", scale=16)


# -- labels ------------------------------------------------------------------------------------

def test_absurd_label_is_refused_at_registration(db, tmp_path) -> None:
    """9e12 registered as 9,000,000,000,001 classes; each cell then failed on a 65.5 TiB array."""
    y = labels()
    y[5] = 9 * 10**12
    source = write_npz(tmp_path / "l.npz", x_train=float_images(), y_train=y)
    with pytest.raises(DataError) as raised:
        register_dataset(db, "l", source)
    assert str(raised.value) == (f"{source}: y_train[5] is 9000000000000: labels must be "
                                 f"integers from 0 to {MAX_CLASSES - 1}")
    assert row_counts(db) == (0, 0)


def test_negative_and_fractional_labels_are_refused_naming_the_index(db, tmp_path) -> None:
    y = labels().astype(np.float64)
    y[3] = 2.5
    source = write_npz(tmp_path / "l.npz", x_train=float_images(), y_train=labels(),
                       x_val=float_images(10), y_val=y[:10])
    with pytest.raises(DataError, match=r"y_val\[3\] is 2.5: labels must be integers"):
        register_dataset(db, "l", source)
    y = labels()
    y[11] = -1
    source = write_npz(tmp_path / "m.npz", x_train=float_images(), y_train=y)
    with pytest.raises(DataError, match=r"y_train\[11\] is -1: labels must be integers from 0"):
        register_dataset(db, "m", source)
    assert row_counts(db) == (0, 0)


def test_integral_float_labels_are_read_as_integers(sqlite_db, tmp_path) -> None:
    info = register_dataset(sqlite_db, "f", write_npz(
        tmp_path / "f.npz", x_train=float_images(), y_train=labels().astype(np.float64)))
    assert info.num_classes == 4


def test_a_sparse_label_space_is_refused_unless_class_names_declare_it(db, tmp_path) -> None:
    y = labels() * 3  # 0, 3, 6, 9: ten "classes", six of them empty
    source = write_npz(tmp_path / "s.npz", x_train=float_images(), y_train=y)
    with pytest.raises(DataError) as raised:
        register_dataset(db, "s", source)
    assert str(raised.value) == (
        f"{source}: labels 0 to 9 leave 6 of 10 unused (1, 2, 4, 5, 7, 8): number the classes "
        "0 to 3, or give class_names for all 10")
    assert row_counts(db) == (0, 0)
    named = write_npz(tmp_path / "n.npz", x_train=float_images(), y_train=y,
                      class_names=np.array([f"c{i}" for i in range(10)]))
    assert register_dataset(db, "n", named).num_classes == 10


def test_more_class_names_than_the_bound_are_refused(sqlite_db, tmp_path) -> None:
    source = write_npz(tmp_path / "n.npz", x_train=float_images(), y_train=labels(),
                       class_names=np.arange(MAX_CLASSES + 1).astype(str))
    with pytest.raises(DataError, match=f"{MAX_CLASSES + 1} class names; at most {MAX_CLASSES}"):
        register_dataset(sqlite_db, "n", source)


def test_cli_data_add_takes_scale_and_refuses_bad_pixels_in_one_line(tmp_path) -> None:
    x = float_images()
    x[0, 0, 0] = np.nan
    source = write_npz(tmp_path / "f.npz", x_train=x, y_train=labels())
    db = str(tmp_path / "t.db")
    result = run_cli("data", "add", "f", source, "--db", db)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"proxystore: error: {source}: x_train[0, 0, 0] is nan: ")
    assert result.stderr.count("\n") == 1
    x[0, 0, 0] = 0.5
    source = write_npz(tmp_path / "g.npz", x_train=x * 255, y_train=labels())
    result = run_cli("data", "add", "g", source, "--scale", "255", "--db", db)
    assert result.returncode == 0, result.stderr
