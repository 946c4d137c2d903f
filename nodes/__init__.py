"""The pack's V3 node classes: thin wrappers that talk to the host and call ``pose_models``."""

from comfy_api.latest import ComfyExtension, io

from .cfld import CFLD_NODES
from .face_similarity import FACE_SIMILARITY_NODES
from .oneposetrans import ONEPOSETRANS_NODES
from .oneposetrans_inject import ONEPOSETRANS_INJECT_NODES
from .pose import POSE_NODES
from .reposedm import REPOSEDM_NODES
from .truepose import TRUEPOSE_NODES

NODE_LIST: tuple[type[io.ComfyNode], ...] = (*POSE_NODES, *REPOSEDM_NODES, *TRUEPOSE_NODES, *CFLD_NODES,
                                             *ONEPOSETRANS_NODES, *ONEPOSETRANS_INJECT_NODES,
                                             *FACE_SIMILARITY_NODES)


class PoseTransferExtension(ComfyExtension):
    """Lists every node of the pack for the host's loader."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_LIST)
