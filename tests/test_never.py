"""What proxystore never does by itself: load weights, unpickle, download (docs/security.md)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from proxystore.errors import GenomeError
from proxystore.space.timm_models import TimmModel
from tests.helpers import REPO

# Calls that would load weights, unpickle, or fetch from the network, as they would be written.
FORBIDDEN = {
    r"\btorch\.load\(": "loads a pickle (weights or anything else)",
    r"\bimport pickle\b|\bpickle\.loads?\(": "unpickles",
    r"allow_pickle\s*=\s*True": "lets numpy unpickle",
    r"weights_only\s*=\s*False": "lets torch unpickle",
    r"pretrained\s*=\s*True": "downloads pretrained weights",
    r"download\s*=\s*True": "downloads a dataset without being asked",
    r"\btorch\.hub\b|\burlopen\(|\burlretrieve\(|\bimport requests\b": "downloads",
    r"\bload_state_dict\(": "loads weights",
    r"\bjoblib\b": "unpickles",
}


def test_the_package_source_never_loads_weights_unpickles_or_downloads():
    found = []
    for path in sorted((REPO / "proxystore").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, what in FORBIDDEN.items():
                if re.search(pattern, code):
                    found.append(f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()}")
    assert found == []


def test_numpy_never_unpickles_the_decoded_cache():
    # data/cache.py reads its .npy files with np.load's default, which must refuse pickles.
    assert inspect.signature(np.load).parameters["allow_pickle"].default is False


@pytest.mark.parametrize("key", ["checkpoint_path", "pretrained", "pretrained_cfg",
                                 "pretrained_cfg_overlay", "cache_dir"])
def test_timm_kwargs_cannot_load_weights(key, tmp_path):
    checkpoint = tmp_path / "weights.pth"
    checkpoint.write_bytes(b"not even a checkpoint")
    with pytest.raises(GenomeError, match=rf"kwargs may not set {key} \(proxystore trains from "
                                          "scratch: no weights are loaded"):
        TimmModel("resnet18", {key: str(checkpoint)})
