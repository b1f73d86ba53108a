"""Re-identification helpers (sdk.md §12.1): matching query features against candidates."""

from sedna.algorithms.reid.multi_img_matching import cosine_similarity_score, match_query_to_targets

__all__ = ["cosine_similarity_score", "match_query_to_targets"]
