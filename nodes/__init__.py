"""The pack's V3 node classes, grouped by method; each package keeps only schemas and thin ``execute``
bodies, ComfyUI internals live in :mod:`.host` (``docs/architecture.md``).

* :mod:`.pose` -- the pose toolkit (``pose transfer/Pose``);
* :mod:`.truepose`, :mod:`.reposedm`, :mod:`.oneposetrans`, :mod:`.cfld` -- one package per method
  (``pose transfer/<Method>``);
* :mod:`.evaluation` -- measurements of results (``pose transfer/Evaluation``);
* :mod:`.common` -- socket types, categories, pose inputs, guidance widgets, node errors;
* :mod:`.host` -- the host-adapter layer.
"""

from comfy_api.latest import ComfyExtension, io

from .cfld import CFLD_NODES
from .evaluation import EVALUATION_NODES
from .oneposetrans import ONEPOSETRANS_NODES
from .pose import POSE_NODES
from .reposedm import REPOSEDM_NODES
from .truepose import TRUEPOSE_NODES

NODE_LIST: tuple[type[io.ComfyNode], ...] = (*POSE_NODES, *REPOSEDM_NODES, *TRUEPOSE_NODES, *CFLD_NODES,
                                             *ONEPOSETRANS_NODES, *EVALUATION_NODES)


class PoseTransferExtension(ComfyExtension):
    """Lists every node of the pack for the host's loader."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_LIST)
