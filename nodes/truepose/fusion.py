"""HPFA at sampling time: per-generation state, the attention bias, and the self-attention hook.

One :class:`HPFARun` belongs to one patched MODEL. Its ``OUTER_SAMPLE`` wrapper checks sizes, opens a
:class:`Generation` (bank on the sampling device, sigma window, caches) and closes it in ``finally``; in
per-step mode an ``APPLY_MODEL`` wrapper re-runs the source pass whenever the sigma changes. The hook of
each selected layer (:meth:`HPFARun.attend`, on the backbone-neutral ``AttentionCall``) makes **one** SDPA
call for the target image's query rows over ``[K ; K_s]``, ``[V ; V_s]`` with the float mask ``[host
mask | B]`` (``pose_models.truepose.bias``); a DiT call's text and reference-image rows keep the layer's
own attention (softmax is per row, so this equals one call whose bank columns are ``-inf`` for those
rows). When another pack already patched that layer's attention, its function is kept and called for
the target's own keys: one SDPA call returns the source part and the share ``alpha`` of the attention
mass on the own keys, and the result is ``alpha * their_output + source_part``
(``pose_models.truepose.fusion``). On DiTs the bank's keys, recorded at the source's own rotary
positions, are moved once per generation to the next free reference-image index
(``pose_models.truepose.rope``), the convention Kontext and Qwen-Image-Edit use for reference images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ...pose_models.truepose import (
    BANK_GROUPS,
    LayerKey,
    TruePoseError,
    affinity_matrix,
    area_coverage,
    dominant_group,
    gate_penalty,
    mixed_with_own_output,
    reference_offset,
    rotate_keys,
    source_key_bias,
)
from ..host.attention import AttentionCall, AttentionHook, masked_attention
from ..host.sampling import sigma_at
from . import bank as bank_mod

BRANCHES = ["both", "positive", "negative"]


@dataclass(frozen=True)
class HPFASettings:
    """Node settings. ``weights`` ``float32 [G]`` over ``BANK_GROUPS`` (0 = excluded, incl. groups the
    bank does not cover); ``target_masks`` ``float32 [Bt, G, H, W]`` or ``None``; percents as in the
    host's ControlNet nodes (0 = first step)."""

    strength: float
    weights: torch.Tensor
    layers: tuple[LayerKey, ...]
    start_percent: float
    end_percent: float
    branches: str
    gate: float
    target_masks: torch.Tensor | None


@dataclass
class Generation:
    """State of one sampling run (created by the OUTER_SAMPLE wrapper, dropped in its ``finally``)."""

    device: torch.device
    sigma_high: float
    sigma_low: float
    features: bank_mod.SourceFeatures | None
    conds: list[dict[str, Any]] | None = None
    last_sigma: float | None = None
    cache: dict[tuple, Any] = field(default_factory=dict)

    def in_window(self, sigma: float) -> bool:
        return self.sigma_low <= sigma <= self.sigma_high

    def cached(self, key: tuple, build: Callable[[], Any]) -> Any:
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = build()
        return value


class HPFARun:
    """The bank, the settings and the current :class:`Generation` of one patched MODEL."""

    def __init__(self, bank: bank_mod.SourceBank, settings: HPFASettings) -> None:
        self.bank = bank
        self.settings = settings
        self.generation: Generation | None = None
        self.affinity = affinity_matrix(BANK_GROUPS, BANK_GROUPS)

    # ----- sampling lifecycle -------------------------------------------------------------------------
    def check_target(self, noise_shape: torch.Size) -> None:
        """Refuse a target latent the bank or the target regions do not fit (before any step runs)."""
        size = (int(noise_shape[-2]), int(noise_shape[-1]))
        f = self.bank.backbone.latent_factor
        if len(noise_shape) != 4 or size != self.bank.latent_size:
            raise TruePoseError(
                f"TruePose HPFA: the target is {size[1] * f}x{size[0] * f} px but the source was encoded at "
                f"{self.bank.latent_size[1] * f}x{self.bank.latent_size[0] * f} px. Resize the source image "
                "to the target size (Upscale Image) before the SourceNet Encoder, or set the latent to the "
                f"source size (on this model both sides must be multiples of "
                f"{self.bank.backbone.token_factor} px).")
        masks = self.settings.target_masks
        if masks is not None:
            pixels = (size[0] * f, size[1] * f)
            if tuple(masks.shape[-2:]) != pixels:
                raise TruePoseError(
                    f"TruePose HPFA: target_regions are {masks.shape[-1]}x{masks.shape[-2]} px but the "
                    f"target is {pixels[1]}x{pixels[0]} px; set that width and height on TruePose Target "
                    "Regions (or parse an image of the target size).")
            if masks.shape[0] not in (1, noise_shape[0]):
                raise TruePoseError(
                    f"TruePose HPFA: target_regions hold {masks.shape[0]} maps for {noise_shape[0]} targets; "
                    "give one map, or one pose frame per target image.")

    def start(self, model: Any) -> Generation:
        device = model.load_device
        features = self.bank.features.to(device) if self.bank.features is not None else None
        return Generation(device=device, features=features,
                          sigma_high=sigma_at(model, self.settings.start_percent),
                          sigma_low=sigma_at(model, self.settings.end_percent))

    def per_step(self, base_model: Any, sigma: float, device: torch.device) -> None:
        """Per-step mode: record the source at ``sigma`` unless already done for this sigma."""
        gen = self.generation
        if gen is None or gen.last_sigma == sigma or not gen.in_window(sigma):
            return
        if gen.conds is None:
            gen.conds = bank_mod.process_source_conds(base_model, self.bank.source, device)
        gen.features = bank_mod.run_source_pass(base_model, self.bank.source, gen.conds, sigma,
                                                self.bank.backbone, self.settings.layers, device)
        gen.last_sigma = sigma
        gen.cache = {k: v for k, v in gen.cache.items() if k[0] != "kv"}

    # ----- attention ----------------------------------------------------------------------------------
    def _row_mask(self, cond_or_uncond: list[int], rows: int) -> torch.Tensor:
        """``bool [rows]``: which batch rows read the bank (CFG branch setting)."""
        chunk = max(rows // max(len(cond_or_uncond), 1), 1)
        wanted = {"both": (0, 1), "positive": (0,), "negative": (1,)}[self.settings.branches]
        return torch.tensor([cond_or_uncond[min(i // chunk, len(cond_or_uncond) - 1)] in wanted
                             for i in range(rows)])

    def _source_tokens(self, gen: Generation,
                       grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(bias, dominant group, token index)`` of the source tokens with a finite bias on ``grid``.

        Tokens at ``-inf`` would get exactly zero attention weight, so they are left out of the call
        altogether (same result, less work); which tokens those are depends only on the parsing and the
        weights, never on pixels.
        """
        def build() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            coverage = area_coverage(self.bank.group_masks, grid).to(gen.device)
            weights = self.settings.weights.to(gen.device)
            bias = source_key_bias(coverage[0], weights, self.settings.strength)
            index = torch.isfinite(bias).nonzero().flatten()
            return bias[index], dominant_group(coverage)[0][index], index
        return gen.cached(("source", grid), build)

    def _target_groups(self, gen: Generation, grid: tuple[int, int]) -> torch.Tensor:
        masks = self.settings.target_masks
        return gen.cached(("target", grid), lambda: dominant_group(area_coverage(masks, grid).to(gen.device)))

    def _bias(self, gen: Generation, rows: torch.Tensor, own_keys: int, grid: tuple[int, int],
              source_grid: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """``[R, 1, Nq or 1, own_keys + Ns]`` additive mask (``R`` = rows or 1)."""
        key = ("bias", tuple(rows.tolist()), own_keys, grid, source_grid, dtype)

        def build() -> torch.Tensor:
            source_bias, source_groups, _ = self._source_tokens(gen, source_grid)
            part = source_bias.view(1, 1, -1)
            if self.settings.target_masks is not None and self.settings.gate > 0:
                target = self._target_groups(gen, grid)
                affinity = self.affinity.to(gen.device)
                penalty = gate_penalty(target, source_groups, affinity, self.settings.gate)
                index = torch.arange(rows.numel()) % target.shape[0]
                part = part + penalty[index.to(gen.device)]
            if not bool(rows.all()):
                part = part.expand(rows.numel(), -1, -1).clone()
                part[~rows.to(gen.device)] = float("-inf")
            own = torch.zeros(part.shape[0], part.shape[1], own_keys, device=gen.device)
            return torch.cat([own, part], dim=-1).unsqueeze(1).to(dtype)
        return gen.cached(key, build)

    def _kv(self, gen: Generation, layer: LayerKey, dtype: torch.dtype,
            offset: tuple[int, ...] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's ``K_s, V_s`` ``[1, H, kept tokens, D]`` on the sampling device in ``dtype``, the keys
        moved by the rotary ``offset`` (DiTs; ``None``: keys carry no position)."""
        def build() -> tuple[torch.Tensor, torch.Tensor]:
            k, v = gen.features.kv[layer]
            index = self._source_tokens(gen, gen.features.grids[layer])[2]
            k = k.to(gen.device)[:, :, index]
            rotary = self.bank.backbone.rotary
            if offset is not None and rotary is not None:
                k = rotate_keys(k, offset, rotary.axes_dim, rotary.theta)
            return k.to(dtype), v.to(gen.device, dtype)[:, :, index]
        return gen.cached(("kv", layer, dtype, offset), build)

    def attend(self, layer: LayerKey, call: AttentionCall) -> torch.Tensor | None:
        """The hook body: HPFA's output ``[B, Lq, H * D]`` when active, ``None`` otherwise (the layer then
        computes exactly what it would without the hook)."""
        gen = self.generation
        if gen is None or gen.features is None or self.settings.strength <= 0:
            return None
        sigmas = call.options.get("sigmas")
        if sigmas is not None and not gen.in_window(float(sigmas.max())):
            return None
        batch = call.q.shape[0]
        rows = self._row_mask(list(call.options.get("cond_or_uncond", [0])), batch)
        rotary = self.bank.backbone.rotary
        offset = reference_offset(len(call.references), len(rotary.axes_dim)) if rotary else None
        k_s, v_s = self._kv(gen, layer, call.q.dtype, offset)
        if not bool(rows.any()) or k_s.shape[2] == 0:
            return None
        target = call.queries.span
        q = call.q[:, :, target]
        own_mask = call.mask_rows(target)
        if own_mask is not None and own_mask.dtype == torch.bool:  # True = attend
            own_mask = torch.zeros(own_mask.shape, dtype=q.dtype, device=q.device).masked_fill(
                ~own_mask, float("-inf"))
        bias = self._bias(gen, rows, call.k.shape[2], call.queries.grid, gen.features.grids[layer], q.dtype)
        if own_mask is not None:
            bias = bias + F.pad(own_mask.to(q.dtype), (0, k_s.shape[2]))
        keys = torch.cat([call.k, k_s.expand(batch, -1, -1, -1)], dim=2)
        if call.plain:
            out = masked_attention(q, keys, torch.cat([call.v, v_s.expand(batch, -1, -1, -1)], dim=2), bias)
        else:
            out = mixed_with_own_output(q, keys, v_s, bias, call.inner(q, call.k, call.v, own_mask))
        return self._with_other_rows(call, out)

    @staticmethod
    def _with_other_rows(call: AttentionCall, target_out: torch.Tensor) -> torch.Tensor:
        """The call's output: ``target_out`` for the target's query rows, the layer's own attention for the
        rows before (text) and after them (reference images)."""
        target = call.queries.span
        parts = []
        for rows in (slice(0, target.start), target, slice(target.stop, call.q.shape[2])):
            if rows == target:
                parts.append(target_out)
            elif rows.stop > rows.start:
                parts.append(call.inner(call.q[:, :, rows], call.k, call.v, call.mask_rows(rows)))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def self_attention_hook(run: HPFARun, layer: LayerKey) -> AttentionHook:
    """The hook of one layer: a closure (survives the host's deep copy of ``model_options`` as itself)."""
    def hpfa(call: AttentionCall) -> torch.Tensor | None:
        return run.attend(layer, call)
    return hpfa


def sampling_scope(run: HPFARun) -> Callable[[Any, torch.Size], Any]:
    """Per sampling run: size checks before any step, open the generation state, close it on exit."""
    @contextmanager
    def scope(model: Any, noise_shape: torch.Size) -> Iterator[None]:
        run.check_target(noise_shape)
        previous = run.generation
        run.generation = run.start(model)
        try:
            yield
        finally:
            run.generation = previous
    return scope
