"""Per-example scores: a trained model's loss and correctness on every training example.

Loss-quantile (easy/hard) subsets rank examples by these scores. The runner calls
`score_examples` for runs marked as scorers; any model that maps normalized (N, C, S, S) float
images to logits over the subset's classes will do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import delete

from proxystore.data import bulk
from proxystore.data.cache import DecodedData
from proxystore.db import Database
from proxystore.db.models import SqlExampleLoss, SqlRun
from proxystore.errors import DataError, NotFoundError


def _mapped(labels: np.ndarray, label_map: Mapping[int, int] | None) -> np.ndarray:
    if not label_map:
        return labels.astype(np.int64)
    lookup = np.full(int(max(max(label_map), labels.max())) + 1, -1, np.int64)
    for original, target in label_map.items():
        lookup[int(original)] = int(target)
    mapped = lookup[labels]
    if (mapped < 0).any():
        raise DataError("some training examples have labels outside the subset's label map")
    return mapped


def evaluate_losses(model, data: DecodedData, train_indices: np.ndarray,
                    label_map: Mapping[int, int] | None, mean: Sequence[float],
                    std: Sequence[float], device: str = "cpu", batch_size: int = 512
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return per-example cross-entropy loss and correctness over `train_indices`, in order."""
    import torch
    import torch.nn.functional as F

    indices = np.asarray(train_indices, np.int64)
    targets = torch.from_numpy(_mapped(data.train_labels[indices], label_map))
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    losses, correct = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(indices), batch_size):
                batch = indices[start:start + batch_size]
                x = torch.from_numpy(np.asarray(data.train[batch])).to(device).float()
                x = (x / 255.0 - mean_t) / std_t
                y = targets[start:start + batch_size].to(device)
                logits = model(x).float()
                losses.append(F.cross_entropy(logits, y, reduction="none").cpu())
                correct.append((logits.argmax(dim=1) == y).cpu())
    finally:
        model.train(was_training)
    if not losses:
        return np.zeros(0), np.zeros(0, bool)
    return torch.cat(losses).numpy().astype(np.float64), torch.cat(correct).numpy()


def score_examples(db: Database, run_id: int, model, data: DecodedData,
                   train_indices: np.ndarray, label_map: Mapping[int, int] | None,
                   mean: Sequence[float], std: Sequence[float], device: str = "cpu",
                   batch_size: int = 512) -> int:
    """Score every training example of a subset with `model`; replace the run's earlier scores.

    Args:
        db: the open database.
        run_id: the scorer run the scores belong to (`runs.id`).
        model: a torch module mapping normalized images to logits over the subset's classes.
        data: the decoded dataset (`cache.decoded`).
        train_indices: the subset's training example indices (`subsets.subset_indices`).
        label_map: original label -> training label, or None when all classes are kept.
        mean: per-channel mean used for normalization, in [0, 1] units.
        std: per-channel std used for normalization.
        device: torch device to evaluate on.
        batch_size: examples per forward pass.

    Returns:
        The number of examples scored.
    """
    losses, correct = evaluate_losses(model, data, train_indices, label_map, mean, std,
                                      device, batch_size)
    if not np.isfinite(losses).all():
        raise DataError(f"run {run_id}: the model gives non-finite losses; scores not stored")
    with db.session() as session:
        if session.get(SqlRun, run_id) is None:
            raise NotFoundError(f"no run {run_id} to attach scores to")
        session.execute(delete(SqlExampleLoss).where(SqlExampleLoss.run_id == run_id))
        return bulk.insert_columns(
            session, "example_losses", ("run_id", "split", "index", "loss", "correct"),
            (run_id, "train", np.asarray(train_indices, np.int64), losses, correct))
