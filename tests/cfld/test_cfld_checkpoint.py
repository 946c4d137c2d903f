"""Release files: loading (.bin and safetensors), the converter CLI, and clear errors for bad files."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from cfld.reference import tiny_inputs as T
from cfld.tiny_release import release_state_dicts

from pose_models.cfld import CFLDCheckpointError, CFLDModel, FileKind, file_kind, load_release, read_tensors
from pose_models.cfld.cli import main as cli_main
from pose_models.cfld.config import HEAD_WIDTH, conditioner_config
from pose_models.cfld.unet import SD15UNet, UNetConfig


def guided(model: CFLDModel, conditions) -> torch.Tensor:
    return model.guided_noise(T.noisy_latents(981), 981, conditions, 2.0, 2.0)


def test_sizes_are_read_from_the_tensors(cfld_model: CFLDModel) -> None:
    c = cfld_model.conditioner.config
    assert c.swin.image_size == T.SOURCE_SIDE and c.swin.windows == (4, 4, 4, 2)
    assert c.swin.depths == (2, 2, 2, 2) and c.swin.heads == (1, 2, 2, 4)
    assert c.appearance.depth == 2 and c.appearance.heads == (1,) * 6 + (2,) * 3
    assert c.decoder.n_ctx == 4 and c.decoder.heads == 64 // HEAD_WIDTH
    assert cfld_model.unet.config.block_out_channels == (32, 32, 64, 64)
    assert cfld_model.latent_size == T.LATENT_SIDE and cfld_model.source_size == T.SOURCE_SIDE


def test_safetensors_conversion_loads_identically(release_files: tuple[Path, Path], cfld_model: CFLDModel,
                                                  ref_conditions, tmp_path: Path) -> None:
    outs = tmp_path / "cond.safetensors", tmp_path / "unet.safetensors"
    for src, dst in zip(release_files, outs, strict=True):
        assert cli_main(["convert", str(src), str(dst)]) == 0
    assert file_kind(read_tensors(outs[0])) is FileKind.CONDITIONING
    assert file_kind(read_tensors(outs[1])) is FileKind.UNET
    converted = load_release(*outs)
    assert torch.equal(guided(converted, ref_conditions), guided(cfld_model, ref_conditions))
    assert cli_main(["info", str(outs[1])]) == 0


def test_module_prefix_is_accepted(tmp_path: Path, cfld_model: CFLDModel, ref_conditions) -> None:
    cond, unet = release_state_dicts()
    paths = tmp_path / "a.bin", tmp_path / "b.bin"
    torch.save({f"module.{k}": v for k, v in cond.items()}, paths[0])
    torch.save(unet, paths[1])
    assert torch.equal(guided(load_release(*paths), ref_conditions), guided(cfld_model, ref_conditions))


def test_missing_file_names_it_and_the_folder(release_files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(CFLDCheckpointError, match=r"not found: .*pytorch_model_1\.bin.*models/cfld/"):
        load_release(release_files[0], tmp_path / "pytorch_model_1.bin")


def test_swapped_files(release_files: tuple[Path, Path]) -> None:
    with pytest.raises(CFLDCheckpointError, match="swapped"):
        load_release(release_files[1], release_files[0])


def test_same_file_twice(release_files: tuple[Path, Path]) -> None:
    with pytest.raises(CFLDCheckpointError, match=r"expected CFLD's UNet .* it is CFLD's conditioning model"):
        load_release(release_files[0], release_files[0])


def test_stable_diffusion_checkpoint_is_refused(release_files: tuple[Path, Path], tmp_path: Path) -> None:
    sd = tmp_path / "v1-5-pruned.bin"
    torch.save({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3),
                "first_stage_model.decoder.conv_in.weight": torch.zeros(1)}, sd)
    with pytest.raises(CFLDCheckpointError, match=r"expected CFLD's UNet .*Stable Diffusion checkpoint"):
        load_release(release_files[0], sd)
    assert cli_main(["convert", str(sd), str(tmp_path / "x.safetensors")]) == 2


def test_pickled_objects_are_refused(release_files: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "pytorch_model.bin"
    torch.save({"learnable_vector": torch.zeros(1), "args": argparse.Namespace(a=1)}, bad)
    with pytest.raises(CFLDCheckpointError, match="argparse.Namespace, not only tensors.*never loads them"):
        load_release(bad, release_files[1])


def test_truncated_file(release_files: tuple[Path, Path], tmp_path: Path) -> None:
    cut = tmp_path / "pytorch_model_1.bin"
    data = release_files[1].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CFLDCheckpointError, match="cannot be read"):
        load_release(release_files[0], cut)


def test_missing_tensor_is_named(tmp_path: Path, release_files: tuple[Path, Path]) -> None:
    cond, _ = release_state_dicts()
    del cond["decoder.blocks.1.ff.net.2.weight"]
    path = tmp_path / "pytorch_model.bin"
    torch.save(cond, path)
    missing = r"1 missing key\(s\): decoder\.blocks\.1\.ff\.net\.2\.weight"
    with pytest.raises(CFLDCheckpointError, match=missing):
        load_release(path, release_files[1])


def test_files_of_different_models(tmp_path: Path, release_files: tuple[Path, Path]) -> None:
    other = SD15UNet(UNetConfig(block_out_channels=(32, 32, 64, 64), cross_attention_dim=32))
    path = tmp_path / "pytorch_model_1.bin"
    torch.save({f"model.{k}": v for k, v in other.state_dict().items()}, path)
    with pytest.raises(CFLDCheckpointError, match="do not belong to one CFLD model: prompt width 64"):
        load_release(release_files[0], path)


def test_head_count_rule_rejects_odd_widths() -> None:
    cond, _ = release_state_dicts()
    cond["decoder.query_feat"] = torch.zeros(4, 48)
    with pytest.raises(ValueError, match="not a multiple of the 32-channel heads"):
        conditioner_config(cond)


def test_bad_inputs_fail_before_the_network_runs(cfld_model: CFLDModel) -> None:
    from pose_models.cfld import CFLDError

    source = T.source_images()
    pose = torch.zeros(T.BATCH, 21, T.SOURCE_SIDE, T.SOURCE_SIDE)
    with pytest.raises(CFLDError, match=r"expected \[-1, 1\]"):
        cfld_model.encode_conditions(source * 255, pose)
    with pytest.raises(CFLDError, match="Pad or crop the photo"):
        cfld_model.encode_conditions(source[..., :48], pose)
    with pytest.raises(CFLDError, match="one pose per source image"):
        cfld_model.encode_conditions(source, pose[:1])
    conditions = cfld_model.encode_conditions(source, pose)
    with pytest.raises(CFLDError, match="canvas is fixed"):
        cfld_model.guided_noise(torch.zeros(T.BATCH, 4, 8, 8), 981, conditions)


def test_release_architecture_has_the_release_file_layout() -> None:
    """Default sizes = the release: 1,301 conditioning keys (1,275 tensors + 26 Swin buffers the file also
    holds), 686 UNet keys, and the documented module sizes (decoder 97.7 M, HGA 22.5 M, pose 30.6 M)."""
    from pose_models.cfld.appearance import AppearanceConfig
    from pose_models.cfld.conditioner import CFLDConditioner
    from pose_models.cfld.config import ConditionerConfig
    from pose_models.cfld.decoder import DecoderConfig
    from pose_models.cfld.pose_encoder import PoseEncoderConfig
    from pose_models.cfld.swin import SwinConfig

    with torch.device("meta"):
        cond = CFLDConditioner(ConditionerConfig(SwinConfig(), AppearanceConfig(), PoseEncoderConfig(),
                                                 DecoderConfig()))
        unet = SD15UNet(UNetConfig())
    buffers = sum(len(s.blocks) + sum(1 for b in s.blocks if b.shift) for s in cond.backbone.layers)
    assert len(cond.state_dict()) + buffers == 1301
    assert len(unet.state_dict()) == 686

    def millions(module: torch.nn.Module) -> float:
        return round(sum(p.numel() for p in module.parameters()) / 1e6, 1)

    assert (millions(cond.decoder), millions(cond.appearance_encoder), millions(cond.pose_encoder)) == (
        97.7, 22.5, 30.6)
    assert millions(unet) == 859.5
    assert cond.config.swin.windows == (16, 16, 16, 8) and cond.backbone.layers[2].blocks[1].shift == 0


def test_reduced_precision_weights(release_files: tuple[Path, Path], cfld_model: CFLDModel,
                                   ref_conditions) -> None:
    """bf16 weights (fp16 on GPUs): inputs are cast, eps and the sampler stay float32, results stay close."""
    half = load_release(*release_files, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    eps16, eps32 = guided(half, ref_conditions), guided(cfld_model, ref_conditions)
    assert eps16.dtype == torch.float32
    assert float((eps16 - eps32).abs().max()) < 0.1 * float(eps32.abs().max())
    latents = half.sample(ref_conditions, steps=2, latents=T.initial_latents(), step_noise=T.step_noise)
    assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
