"""The host-adapter layer: the only modules of the pack that touch ComfyUI internals.

Node modules (``nodes/<method>/``) import the public node API (``comfy_api.latest``) and this package,
never ``comfy.*``, ``folder_paths``, ``comfy_execution`` or ``server`` themselves (tested by
``tests/test_host_symbols.py``, which also lists every host symbol used here, so a breaking host change
shows up in one place). Where hosts differ, these modules detect the feature, never the version.

* :mod:`.attention` -- the host's plain attention, masked attention, the one policy that wraps an
  attention replace patch already on a layer, and the backbone-neutral ``AttentionCall``.
* :mod:`.backbone` -- the backbone seam: layers, attention hooks, selection words, latent and token
  factors, rotary axes; the UNet (SD1.5/SDXL) and Flux.1 are its implementations.
* :mod:`.dit` -- hooks on DiT joint attention (attention override, block markers, token layout).
* :mod:`.models` -- model folders and files, ``ModelPatcher`` creation, devices and loading, the
  loader cache, model family detection, loading a diffusers-layout UNet as a host MODEL.
* :mod:`.sampling` -- wrapper keys and wrappers (``OUTER_SAMPLE``, ``APPLY_MODEL``), post-CFG guidance
  plumbing, conditioning conversion, extra UNet passes, the multi-branch guider, schedules.
* :mod:`.autograd` -- gradients inside the executor's inference mode: normal-tensor copies, gradient
  decoders, the CLIP copy, UNet weight wrappers, the tuner's weight-adapter tricks.
* :mod:`.lora` -- LoRA key maps and patches of a MODEL (block weights).
* :mod:`.progress` -- progress bars, interruption, progress text.
"""
