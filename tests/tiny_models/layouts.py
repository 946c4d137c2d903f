"""Key layouts (names and shapes) of the original single-file checkpoint formats, at any size.

Declarations on a ``StateDict`` only: nothing here imports the host, so models can be written before
ComfyUI is importable. The names follow the original releases, which are also the
attribute paths of the host's module classes:

* ``unet_layout``: the LDM/SGM ``openaimodel.UNetModel`` (``input_blocks``, ``middle_block``,
  ``output_blocks``, ``time_embed``, ``label_emb``, ``out``), as under ``model.diffusion_model.``;
* ``controlnet_layout``: ControlNet v1.0/v1.1 (``input_hint_block``, ``zero_convs``,
  ``middle_block_out`` and the UNet's input side), as under ``control_model.``;
* ``kl_vae_layout``: the LDM ``AutoencoderKL`` (``encoder``, ``decoder``, ``quant_conv``,
  ``post_quant_conv``), as under ``first_stage_model.``;
* ``hf_clip_text_layout``: a Hugging Face ``CLIPTextModel`` (``text_model.*``), as SD1.x and SDXL's
  first embedder store it;
* ``open_clip_text_layout``: an open_clip text tower (``transformer.resblocks.N.attn.in_proj_weight``,
  ``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection``), as SDXL's second
  embedder stores it;
* ``hf_clip_vision_layout``: a Hugging Face ``CLIPVisionModelWithProjection`` (``vision_model.*``,
  ``visual_projection``), as the ``clip_vision`` files store it;
* ``flux_layout``: the Black Forest Labs Flux.1 transformer (``img_in``, ``double_blocks``,
  ``single_blocks``, ``final_layer``), as ``flux1-dev.safetensors`` stores it and as under
  ``model.diffusion_model.`` in single-file Flux checkpoints; ``kl_vae_layout`` without quant
  convolutions is the Flux autoencoder (``ae.safetensors``, ``vae.`` in checkpoints);
* ``t5_encoder_layout``: a Hugging Face T5 encoder (``encoder.block.N.layer.M``, ``shared``), as Flux
  checkpoints store T5-XXL under ``text_encoders.t5xxl.transformer.``.

Attention head counts never change tensor shapes (the inner width equals the channel width), so they
are not part of these specs; the loader decides them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tensors import StateDict

CLIP_VOCAB_SIZE = 49408
"""The CLIP BPE vocabulary; the host's text encoders and tokenizers hard-wire it."""

CLIP_MAX_POSITIONS = 77

LOGIT_SCALE = 4.6052
"""``ln(100)``: the value trained CLIP models end with (open_clip stores it next to the text tower)."""


@dataclass(frozen=True)
class UNetSpec:
    """Sizes of an LDM UNet, in the terms the host's model detection reports them."""

    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    transformer_depth: tuple[int, ...]
    """Transformer depth after each input res block, in input order (0 = no attention)."""
    transformer_depth_output: tuple[int, ...]
    """Depths of the output res blocks, listed like ``transformer_depth`` (the UNet pops from the end)."""
    transformer_depth_middle: int
    context_dim: int
    use_linear_in_transformer: bool = False
    adm_in_channels: int | None = None
    in_channels: int = 4
    out_channels: int = 4

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4


@dataclass(frozen=True)
class VaeSpec:
    """Sizes of an LDM ``AutoencoderKL`` (its ``ddconfig`` plus ``embed_dim``)."""

    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    z_channels: int = 4
    embed_dim: int = 4
    in_channels: int = 3
    out_ch: int = 3
    quant_convs: bool = True
    """``quant_conv`` / ``post_quant_conv`` (the SD VAE has them, the Flux autoencoder not)."""


@dataclass(frozen=True)
class TransformerSpec:
    """Sizes of a CLIP-style transformer (text or vision tower)."""

    hidden_size: int
    num_layers: int
    intermediate_size: int


def _resblock(sd: StateDict, prefix: str, c_in: int, c_out: int, emb_dim: int) -> None:
    sd.norm(f"{prefix}.in_layers.0", c_in)
    sd.conv(f"{prefix}.in_layers.2", c_in, c_out, 3)
    sd.linear(f"{prefix}.emb_layers.1", emb_dim, c_out)
    sd.norm(f"{prefix}.out_layers.0", c_out)
    sd.conv(f"{prefix}.out_layers.3", c_out, c_out, 3)
    if c_in != c_out:
        sd.conv(f"{prefix}.skip_connection", c_in, c_out, 1)


def _spatial_transformer(sd: StateDict, prefix: str, channels: int, depth: int, spec: UNetSpec) -> None:
    def project(name: str) -> None:
        if spec.use_linear_in_transformer:
            sd.linear(name, channels, channels)
        else:
            sd.conv(name, channels, channels, 1)

    sd.norm(f"{prefix}.norm", channels)
    project(f"{prefix}.proj_in")
    for index in range(depth):
        block = f"{prefix}.transformer_blocks.{index}"
        for attn, context in (("attn1", channels), ("attn2", spec.context_dim)):
            sd.linear(f"{block}.{attn}.to_q", channels, channels, bias=False)
            sd.linear(f"{block}.{attn}.to_k", context, channels, bias=False)
            sd.linear(f"{block}.{attn}.to_v", context, channels, bias=False)
            sd.linear(f"{block}.{attn}.to_out.0", channels, channels)
        sd.linear(f"{block}.ff.net.0.proj", channels, channels * 4 * 2)
        sd.linear(f"{block}.ff.net.2", channels * 4, channels)
        for norm in ("norm1", "norm2", "norm3"):
            sd.norm(f"{block}.{norm}", channels)
    project(f"{prefix}.proj_out")


def _embeddings(sd: StateDict, spec: UNetSpec) -> None:
    ted = spec.time_embed_dim
    sd.linear("time_embed.0", spec.model_channels, ted)
    sd.linear("time_embed.2", ted, ted)
    if spec.adm_in_channels is not None:
        sd.linear("label_emb.0.0", spec.adm_in_channels, ted)
        sd.linear("label_emb.0.2", ted, ted)


def _input_side(sd: StateDict, spec: UNetSpec, zero_convs: bool) -> list[int]:
    """``input_blocks`` (and, for a ControlNet, one ``zero_convs`` entry per block); returns block widths."""
    ted = spec.time_embed_dim
    channels = spec.model_channels
    sd.conv("input_blocks.0.0", spec.in_channels, channels, 3)
    widths = [channels]
    depths = list(spec.transformer_depth)
    for level, mult in enumerate(spec.channel_mult):
        for _ in range(spec.num_res_blocks):
            block = f"input_blocks.{len(widths)}"
            _resblock(sd, f"{block}.0", channels, mult * spec.model_channels, ted)
            channels = mult * spec.model_channels
            depth = depths.pop(0)
            if depth > 0:
                _spatial_transformer(sd, f"{block}.1", channels, depth, spec)
            widths.append(channels)
        if level != len(spec.channel_mult) - 1:
            sd.conv(f"input_blocks.{len(widths)}.0.op", channels, channels, 3)
            widths.append(channels)
    if zero_convs:
        for index, width in enumerate(widths):
            sd.conv(f"zero_convs.{index}.0", width, width, 1)
    return widths


def _middle_block(sd: StateDict, spec: UNetSpec, channels: int) -> None:
    ted = spec.time_embed_dim
    _resblock(sd, "middle_block.0", channels, channels, ted)
    _spatial_transformer(sd, "middle_block.1", channels, spec.transformer_depth_middle, spec)
    _resblock(sd, "middle_block.2", channels, channels, ted)


def unet_layout(spec: UNetSpec) -> StateDict:
    """The UNet's keys without the ``model.diffusion_model.`` prefix."""
    sd = StateDict()
    _embeddings(sd, spec)
    widths = _input_side(sd, spec, zero_convs=False)
    channels = widths[-1]
    _middle_block(sd, spec, channels)
    ted = spec.time_embed_dim
    depths = list(spec.transformer_depth_output)
    block_index = 0
    for level, mult in reversed(list(enumerate(spec.channel_mult))):
        for index in range(spec.num_res_blocks + 1):
            block = f"output_blocks.{block_index}"
            skip = widths.pop()
            _resblock(sd, f"{block}.0", channels + skip, spec.model_channels * mult, ted)
            channels = spec.model_channels * mult
            layer = 1
            depth = depths.pop()
            if depth > 0:
                _spatial_transformer(sd, f"{block}.1", channels, depth, spec)
                layer = 2
            if level and index == spec.num_res_blocks:
                sd.conv(f"{block}.{layer}.conv", channels, channels, 3)
            block_index += 1
    sd.norm("out.0", channels)
    sd.conv("out.2", spec.model_channels, spec.out_channels, 3)
    return sd


HINT_BLOCK_CHANNELS = (16, 16, 32, 32, 96, 96, 256)
"""Fixed widths of ControlNet's ``input_hint_block`` convolutions (indices 0, 2, ..., 12)."""


def controlnet_layout(spec: UNetSpec, hint_channels: int = 3) -> StateDict:
    """A ControlNet for ``spec``'s UNet, keys without the ``control_model.`` prefix."""
    sd = StateDict()
    _embeddings(sd, spec)
    widths = _input_side(sd, spec, zero_convs=True)
    c_in = hint_channels
    for index, c_out in enumerate(HINT_BLOCK_CHANNELS):
        sd.conv(f"input_hint_block.{2 * index}", c_in, c_out, 3)
        c_in = c_out
    sd.conv(f"input_hint_block.{2 * len(HINT_BLOCK_CHANNELS)}", c_in, spec.model_channels, 3)
    _middle_block(sd, spec, widths[-1])
    sd.conv("middle_block_out.0", widths[-1], widths[-1], 1)
    return sd


def _vae_resnet(sd: StateDict, prefix: str, c_in: int, c_out: int) -> None:
    sd.norm(f"{prefix}.norm1", c_in)
    sd.conv(f"{prefix}.conv1", c_in, c_out, 3)
    sd.norm(f"{prefix}.norm2", c_out)
    sd.conv(f"{prefix}.conv2", c_out, c_out, 3)
    if c_in != c_out:
        sd.conv(f"{prefix}.nin_shortcut", c_in, c_out, 1)


def _vae_mid(sd: StateDict, prefix: str, channels: int) -> None:
    _vae_resnet(sd, f"{prefix}.mid.block_1", channels, channels)
    sd.norm(f"{prefix}.mid.attn_1.norm", channels)
    for name in ("q", "k", "v", "proj_out"):
        sd.conv(f"{prefix}.mid.attn_1.{name}", channels, channels, 1)
    _vae_resnet(sd, f"{prefix}.mid.block_2", channels, channels)


def kl_vae_layout(spec: VaeSpec) -> StateDict:
    """The VAE's keys without the ``first_stage_model.`` prefix (also the standalone VAE file layout)."""
    sd = StateDict()
    sd.conv("encoder.conv_in", spec.in_channels, spec.ch, 3)
    block_in = spec.ch
    for level, mult in enumerate(spec.ch_mult):
        block_out = spec.ch * mult
        for index in range(spec.num_res_blocks):
            _vae_resnet(sd, f"encoder.down.{level}.block.{index}", block_in, block_out)
            block_in = block_out
        if level != len(spec.ch_mult) - 1:
            sd.conv(f"encoder.down.{level}.downsample.conv", block_in, block_in, 3)
    _vae_mid(sd, "encoder", block_in)
    sd.norm("encoder.norm_out", block_in)
    sd.conv("encoder.conv_out", block_in, 2 * spec.z_channels, 3)

    block_in = spec.ch * spec.ch_mult[-1]
    sd.conv("decoder.conv_in", spec.z_channels, block_in, 3)
    _vae_mid(sd, "decoder", block_in)
    for level in reversed(range(len(spec.ch_mult))):
        block_out = spec.ch * spec.ch_mult[level]
        for index in range(spec.num_res_blocks + 1):
            _vae_resnet(sd, f"decoder.up.{level}.block.{index}", block_in, block_out)
            block_in = block_out
        if level != 0:
            sd.conv(f"decoder.up.{level}.upsample.conv", block_in, block_in, 3)
    sd.norm("decoder.norm_out", block_in)
    sd.conv("decoder.conv_out", block_in, spec.out_ch, 3)

    if spec.quant_convs:
        sd.conv("quant_conv", 2 * spec.z_channels, 2 * spec.embed_dim, 1)
        sd.conv("post_quant_conv", spec.embed_dim, spec.z_channels, 1)
    return sd


def _hf_encoder_layers(sd: StateDict, prefix: str, spec: TransformerSpec) -> None:
    width = spec.hidden_size
    for index in range(spec.num_layers):
        layer = f"{prefix}encoder.layers.{index}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            sd.linear(f"{layer}.self_attn.{proj}", width, width)
        sd.norm(f"{layer}.layer_norm1", width)
        sd.linear(f"{layer}.mlp.fc1", width, spec.intermediate_size)
        sd.linear(f"{layer}.mlp.fc2", spec.intermediate_size, width)
        sd.norm(f"{layer}.layer_norm2", width)


def hf_clip_text_layout(spec: TransformerSpec, position_ids: bool = True) -> StateDict:
    """``text_model.*`` of a Hugging Face ``CLIPTextModel`` (no projection, as SD checkpoints store it)."""
    sd = StateDict()
    width = spec.hidden_size
    sd.add("text_model.embeddings.token_embedding.weight", (CLIP_VOCAB_SIZE, width), "embedding")
    sd.add("text_model.embeddings.position_embedding.weight", (CLIP_MAX_POSITIONS, width), "embedding")
    if position_ids:
        sd.add("text_model.embeddings.position_ids", (1, CLIP_MAX_POSITIONS), "position_ids")
    _hf_encoder_layers(sd, "text_model.", spec)
    sd.norm("text_model.final_layer_norm", width)
    return sd


def open_clip_text_layout(spec: TransformerSpec) -> StateDict:
    """An open_clip text tower (SDXL ``conditioner.embedders.1.model.``), square ``text_projection``."""
    sd = StateDict()
    width = spec.hidden_size
    sd.add("logit_scale", (), "constant", LOGIT_SCALE)
    sd.add("positional_embedding", (CLIP_MAX_POSITIONS, width), "embedding")
    sd.add("text_projection", (width, width), "weight")
    sd.add("token_embedding.weight", (CLIP_VOCAB_SIZE, width), "embedding")
    sd.norm("ln_final", width)
    for index in range(spec.num_layers):
        block = f"transformer.resblocks.{index}"
        sd.add(f"{block}.attn.in_proj_weight", (3 * width, width), "weight")
        sd.add(f"{block}.attn.in_proj_bias", (3 * width,), "bias")
        sd.linear(f"{block}.attn.out_proj", width, width)
        sd.norm(f"{block}.ln_1", width)
        sd.norm(f"{block}.ln_2", width)
        sd.linear(f"{block}.mlp.c_fc", width, spec.intermediate_size)
        sd.linear(f"{block}.mlp.c_proj", spec.intermediate_size, width)
    return sd


def hf_clip_vision_layout(spec: TransformerSpec, patch_size: int, image_size: int,
                          projection_dim: int) -> StateDict:
    """A Hugging Face ``CLIPVisionModelWithProjection``: ``vision_model.*`` and ``visual_projection``."""
    sd = StateDict()
    width = spec.hidden_size
    num_positions = (image_size // patch_size) ** 2 + 1
    sd.add("vision_model.embeddings.class_embedding", (width,), "embedding")
    sd.add("vision_model.embeddings.patch_embedding.weight", (width, 3, patch_size, patch_size), "weight")
    sd.add("vision_model.embeddings.position_embedding.weight", (num_positions, width), "embedding")
    sd.norm("vision_model.pre_layrnorm", width)
    _hf_encoder_layers(sd, "vision_model.", spec)
    sd.norm("vision_model.post_layernorm", width)
    sd.linear("visual_projection", width, projection_dim, bias=False)
    return sd


@dataclass(frozen=True)
class FluxSpec:
    """Sizes of a Flux.1 transformer, in the terms of the host's model detection."""

    hidden_size: int
    head_dim: int
    depth: int
    depth_single_blocks: int
    context_in_dim: int
    vec_in_dim: int
    guidance_embed: bool = True
    in_channels: int = 16
    mlp_ratio: int = 4


def flux_layout(spec: FluxSpec) -> StateDict:
    """The Flux.1 transformer's keys without the ``model.diffusion_model.`` prefix (patch 2x2)."""
    sd = StateDict()
    width, mlp = spec.hidden_size, spec.hidden_size * spec.mlp_ratio
    patched = spec.in_channels * 4
    sd.linear("img_in", patched, width)
    sd.linear("time_in.in_layer", 256, width)
    sd.linear("time_in.out_layer", width, width)
    sd.linear("vector_in.in_layer", spec.vec_in_dim, width)
    sd.linear("vector_in.out_layer", width, width)
    if spec.guidance_embed:
        sd.linear("guidance_in.in_layer", 256, width)
        sd.linear("guidance_in.out_layer", width, width)
    sd.linear("txt_in", spec.context_in_dim, width)
    for index in range(spec.depth):
        for stream in ("img", "txt"):
            block = f"double_blocks.{index}.{stream}"
            sd.linear(f"{block}_mod.lin", width, 6 * width)
            sd.linear(f"{block}_attn.qkv", width, 3 * width)
            sd.add(f"{block}_attn.norm.query_norm.scale", (spec.head_dim,), "norm")
            sd.add(f"{block}_attn.norm.key_norm.scale", (spec.head_dim,), "norm")
            sd.linear(f"{block}_attn.proj", width, width)
            sd.linear(f"{block}_mlp.0", width, mlp)
            sd.linear(f"{block}_mlp.2", mlp, width)
    for index in range(spec.depth_single_blocks):
        block = f"single_blocks.{index}"
        sd.linear(f"{block}.linear1", width, 3 * width + mlp)
        sd.linear(f"{block}.linear2", width + mlp, width)
        sd.add(f"{block}.norm.query_norm.scale", (spec.head_dim,), "norm")
        sd.add(f"{block}.norm.key_norm.scale", (spec.head_dim,), "norm")
        sd.linear(f"{block}.modulation.lin", width, 3 * width)
    sd.linear("final_layer.linear", width, patched)
    sd.linear("final_layer.adaLN_modulation.1", width, 2 * width)
    return sd


T5_VOCAB_SIZE = 32128
"""The T5 SentencePiece vocabulary; the host's T5 tokenizer hard-wires it."""

T5_RELATIVE_BUCKETS = 32


@dataclass(frozen=True)
class T5Spec:
    """Sizes of a gated-GELU T5 encoder (T5 v1.1 / T5-XXL's structure)."""

    d_model: int
    num_layers: int
    num_heads: int
    d_kv: int
    d_ff: int


def t5_encoder_layout(spec: T5Spec) -> StateDict:
    """A T5 encoder: ``shared``, ``encoder.block.N.layer.{0,1}``, ``encoder.final_layer_norm`` (T5 layer
    norms are scale-only; the relative position bias lives in block 0)."""
    sd = StateDict()
    inner = spec.num_heads * spec.d_kv
    sd.add("shared.weight", (T5_VOCAB_SIZE, spec.d_model), "embedding")
    for index in range(spec.num_layers):
        block = f"encoder.block.{index}.layer"
        for name in ("q", "k", "v"):
            sd.linear(f"{block}.0.SelfAttention.{name}", spec.d_model, inner, bias=False)
        sd.linear(f"{block}.0.SelfAttention.o", inner, spec.d_model, bias=False)
        if index == 0:
            sd.add(f"{block}.0.SelfAttention.relative_attention_bias.weight",
                   (T5_RELATIVE_BUCKETS, spec.num_heads), "embedding")
        sd.add(f"{block}.0.layer_norm.weight", (spec.d_model,), "norm")
        sd.linear(f"{block}.1.DenseReluDense.wi_0", spec.d_model, spec.d_ff, bias=False)
        sd.linear(f"{block}.1.DenseReluDense.wi_1", spec.d_model, spec.d_ff, bias=False)
        sd.linear(f"{block}.1.DenseReluDense.wo", spec.d_ff, spec.d_model, bias=False)
        sd.add(f"{block}.1.layer_norm.weight", (spec.d_model,), "norm")
    sd.add("encoder.final_layer_norm.weight", (spec.d_model,), "norm")
    return sd
