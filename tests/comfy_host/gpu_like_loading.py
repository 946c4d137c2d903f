"""What a model load onto a GPU does to weights, reproduced on the CPU.

The host loads models to their device inside the executor's ``torch.inference_mode()``; a real device move
(``module.to("cuda")``) then turns every moved parameter and buffer into an inference tensor, which
autograd cannot save for backward. On the CPU ``to("cpu")`` moves nothing, so the CPU tests never see it.
:class:`GpuLikeLoading` wraps ``ModelPatcher.load`` so that after each load every parameter and buffer of
the loaded model is an inference tensor, exactly as after a device move (``param.data = moved``, which is
what ``nn.Module._apply`` does).
"""

from __future__ import annotations

from typing import Any

import torch


class GpuLikeLoading:
    """Context manager; ``converted`` counts the tensors it turned into inference tensors."""

    def __init__(self) -> None:
        import comfy.model_patcher

        self.patcher_class = comfy.model_patcher.ModelPatcher
        self.original = self.patcher_class.load
        self.converted = 0

    def __enter__(self) -> GpuLikeLoading:
        original = self.original

        def load(patcher: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(patcher, *args, **kwargs)
            with torch.inference_mode():
                for module in patcher.model.modules():
                    for parameter in module._parameters.values():
                        if parameter is not None and not parameter.is_inference():
                            parameter.data = parameter.data.clone()
                            self.converted += 1
                    for name, buffer in module._buffers.items():
                        if buffer is not None and not buffer.is_inference():
                            module._buffers[name] = buffer.clone()
                            self.converted += 1
            return result

        self.patcher_class.load = load
        return self

    def __exit__(self, *exc: object) -> None:
        self.patcher_class.load = self.original
