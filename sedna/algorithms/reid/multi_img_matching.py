"""Match a target's feature vectors (one per query image) against the candidates found in a frame.

Features may be numpy arrays, lists, or torch tensors (anything ``numpy.asarray`` takes); each vector may
carry a leading batch axis of 1 (``(1, D)``), as feature extractors usually return. Similarity is the dot
product, which is the cosine similarity for L2-normalised features (normalise them in the extractor).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["cosine_similarity_score", "match_query_to_targets"]


def _matrix(features: Any) -> np.ndarray:
    if isinstance(features, (list, tuple)):
        rows = [_as_numpy(f).reshape(-1) for f in features]
        if not rows:
            return np.empty((0, 0), np.float32)
        lengths = {len(r) for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"feature vectors of different lengths: {sorted(lengths)}")
        return np.stack(rows)
    array = _as_numpy(features)
    return array.reshape(1, -1) if array.ndim == 1 else array.reshape(array.shape[0], -1)


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
    return np.asarray(value, dtype=np.float64)


def cosine_similarity_score(query: Any = None, candidates: Any = None) -> np.ndarray:
    """``query · candidatesᵀ``: a ``(Q, C)`` matrix of similarities."""
    q, c = _matrix(query), _matrix(candidates)
    if q.size and c.size and q.shape[1] != c.shape[1]:
        raise ValueError(f"query features have {q.shape[1]} dimensions, candidates {c.shape[1]}")
    return q @ c.T


def match_query_to_targets(query_feats: Any, candidate_feats: Any, avg_mode: bool = False) -> tuple[int, float]:
    """``(index of the best candidate, its similarity)``; ``(-1, -inf)`` when there is nothing to match.

    With ``avg_mode`` the query vectors are averaged into one before matching; otherwise the best pair over
    all query vectors wins.
    """
    q, c = _matrix(query_feats), _matrix(candidate_feats)
    if q.size == 0 or c.size == 0:
        return -1, float("-inf")
    if avg_mode:
        q = q.mean(axis=0, keepdims=True)
    scores = cosine_similarity_score(q, c)
    flat = int(np.argmax(scores))
    best_candidate = flat % scores.shape[1]
    return best_candidate, float(scores.flat[flat])
