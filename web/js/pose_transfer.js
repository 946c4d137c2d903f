// Pose Transfer web extension: gives the pack's nodes (ids starting with "PT_") one recognisable
// colour so they stand out in large graphs, and colours links of the pose data types.
import { app } from "../../scripts/app.js";

const NODE_COLOR = "#2a4d5c";
const NODE_BGCOLOR = "#1d343f";
const LINK_COLORS = { POSE_KEYPOINT: "#5fc4e8", PT_POSE_HEATMAPS: "#c38be0" };

app.registerExtension({
    name: "PoseTransfer.Appearance",
    async setup() {
        const canvas = app.canvas;
        if (canvas && canvas.default_connection_color_byType) {
            Object.assign(canvas.default_connection_color_byType, LINK_COLORS);
        }
    },
    nodeCreated(node) {
        if (typeof node.comfyClass === "string" && node.comfyClass.startsWith("PT_")) {
            node.color = node.color ?? NODE_COLOR;
            node.bgcolor = node.bgcolor ?? NODE_BGCOLOR;
        }
    },
});
