"""Training targets: distance of a pose to the clean training poses, part by part (nearest neighbours).

Poses live in **normalised coordinates** (:func:`.skeleton.normalised_points`: neck at the origin, body
scale 1, ``[B, 18, 2]`` plus a visibility mask). The clean set is modelled as the product of per-part sets:
a pose is valid when each of its parts (:data:`PARTS`: arms, legs, head, torso; joints relative to the
neck) looks like that part in *some* clean pose. The target is the Euclidean distance to that product set,

    ``d(q) = sqrt( sum_parts min_r d_part(q, r)^2 )``,  ``d_part(q, r)^2 = sum_{j in part, visible in q}``
    ``(|q_j - r_j|^2 if r_j is visible else MISSING_COST)``,

so ``|grad d| = 1`` almost everywhere (what the eikonal loss asks of the field). Factorising by parts makes
the nearest neighbour meaningful with a few thousand poses: whole-pose nearest neighbours are so sparse that
a real held-out pose is about as far from the training set as a perturbed one.
"""

from __future__ import annotations

import torch

PARTS: dict[str, tuple[int, ...]] = {
    "right_arm": (2, 3, 4), "left_arm": (5, 6, 7), "right_leg": (8, 9, 10), "left_leg": (11, 12, 13),
    "head": (0, 14, 15, 16, 17), "torso": (2, 5, 8, 11),
}
MISSING_COST = 4.0
"""Squared distance charged for a joint visible in the query but missing in a reference pose."""


class PartNeighbours:
    """Nearest-neighbour part distances to a fixed set of clean poses.

    ``points [N, 18, 2]`` normalised coordinates and ``visible [N, 18] bool`` of the clean poses.
    """

    def __init__(self, points: torch.Tensor, visible: torch.Tensor) -> None:
        self.parts = []
        for joints in PARTS.values():
            idx = list(joints)
            vis = visible[:, idx].to(points.dtype)
            ref = points[:, idx] * vis[..., None]
            # d^2 = sum_j m_q |q|^2 m_r + m_q m_r |r|^2 - 2 (m_q q).(m_r r) + MISSING_COST m_q (1 - m_r),
            # one matrix product of [queries, K] by [K, references] per part.
            self.parts.append((idx, torch.cat([vis, vis * (ref * ref).sum(-1), ref.flatten(1),
                                               MISSING_COST * (1 - vis)], -1).T.contiguous()))

    @torch.no_grad()
    def distance(self, points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``[B]`` target distance of queries ``points [B, 18, 2]`` / ``visible [B, 18]`` (no gradient)."""
        total = torch.zeros(points.shape[0], dtype=points.dtype)
        for idx, ref_factors in self.parts:
            q_vis = visible[:, idx].to(points.dtype)
            q = points[:, idx] * q_vis[..., None]
            query = torch.cat([q_vis * (q * q).sum(-1), q_vis, -2 * q.flatten(1), q_vis], -1)
            total = total + (query @ ref_factors).amin(-1).clamp(min=0.0)
        return total.sqrt()
