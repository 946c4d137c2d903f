"""Test-only nodes registered into the running host: another pack's attention patches (UNet and DiT), a
non-UNet MODEL.

``registered(host)`` adds them to the host's ``NODE_CLASS_MAPPINGS`` for the duration of a ``with`` block.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

CALLS: dict[str, int] = {"attn1": 0, "attn2": 0, "dit_block": 0, "attention_override": 0}
"""How often the foreign patches ran (reset by the tests)."""


def pack_module(host: Any, name: str) -> Any:
    """The pack's module ``nodes.truepose.<name>`` as the host loaded it."""
    base = host.node_classes["PT_TruePoseHPFA"].__module__.rsplit(".", 1)[0]
    return sys.modules[f"{base}.{name}"]


class ForeignAttnPatches:
    """Like an attention pack: an attn1 replace (2-key, scaled plain attention) on every self-attention
    block and an attn2 patch scaling the text context."""

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802  (host API name)
        return {"required": {"model": ("MODEL",), "attn1_scale": ("FLOAT", {"default": 1.0}),
                             "context_scale": ("FLOAT", {"default": 1.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model: Any, attn1_scale: float, context_scale: float) -> tuple[Any]:
        import comfy.ldm.modules.attention as attention

        patched = model.clone()

        def attn1(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra: dict) -> torch.Tensor:
            CALLS["attn1"] += 1
            return attention.optimized_attention(q, k, v, extra["n_heads"]) * attn1_scale

        def attn2(n: torch.Tensor, context: torch.Tensor, value: torch.Tensor, extra: dict) -> tuple:
            CALLS["attn2"] += 1
            return n, context * context_scale, value * context_scale

        for block, number, _ in pack_module_layout(model):
            patched.set_model_attn1_replace(attn1, block, number)
        patched.set_model_attn2_patch(attn2)
        return (patched,)


def pack_module_layout(model: Any) -> list[tuple[str, int, int]]:
    """The self-attention layer keys of ``model`` (read with the pack's own backbone seam)."""
    module = next(m for n, m in sys.modules.items() if n.endswith("nodes.host.backbone"))
    return list(module.backbone_of(model).self_attention)


class ForeignDitPatches:
    """Like a DiT pack (a block cache or skip-layer pack plus an attention backend): a ``dit`` replace on
    every double- and single-stream block that scales the block's image output, and an attention override
    that scales every attention output."""

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802  (host API name)
        return {"required": {"model": ("MODEL",), "block_scale": ("FLOAT", {"default": 1.0}),
                             "attention_scale": ("FLOAT", {"default": 1.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model: Any, block_scale: float, attention_scale: float) -> tuple[Any]:
        patched = model.clone()
        net = model.get_model_object("diffusion_model")

        def block(args: dict, extra: dict) -> dict:
            CALLS["dit_block"] += 1
            out = extra["original_block"](args)
            return {**out, "img": out["img"] * block_scale}

        def override(func: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
            CALLS["attention_override"] += 1
            return func(*args, **kwargs) * attention_scale

        for name, blocks in (("double_block", net.double_blocks), ("single_block", net.single_blocks)):
            for index in range(len(blocks)):
                patched.set_model_patch_replace(block, "dit", name, index)
        patched.model_options["transformer_options"]["optimized_attention_override"] = override
        return (patched,)


class NonUNetModel:
    """A MODEL whose diffusion model is not a UNet (stands in for DiT checkpoints)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model: Any) -> tuple[Any]:
        patched = model.clone()
        patched.add_object_patch("diffusion_model", torch.nn.Linear(4, 4))
        return (patched,)


TEST_NODES = {"PTTest_ForeignAttnPatches": ForeignAttnPatches, "PTTest_ForeignDitPatches": ForeignDitPatches,
              "PTTest_NonUNetModel": NonUNetModel}


@contextmanager
def registered(host: Any) -> Iterator[None]:
    """Make :data:`TEST_NODES` available to prompts run on ``host``."""
    mapping = host.node_classes
    mapping.update(TEST_NODES)
    try:
        yield
    finally:
        for name in TEST_NODES:
            mapping.pop(name, None)
