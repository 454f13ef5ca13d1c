"""What the model is told about boxes and points: the locate instruction and each family's coordinates.

Reason2 (Qwen3-VL) was trained on coordinates normalised to 0..1000 per axis; Reason1 (Qwen2.5-VL) on
absolute pixels of the image as it sees it, so its prompt names each camera's frame size in those pixels
(the timestamp strip below excluded). Both use the Qwen keys ``bbox_2d`` ([x1, y1, x2, y2], top-left then
bottom-right corner) and ``point_2d`` ([x, y]).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from cosmos_reason_ros.core.frames.video import PreparedClip
from cosmos_reason_ros.core.models.families import ModelFamily

OBJECTS_PLACEHOLDER = (
    '[{"label": "<the object, as the task names it>", "camera": "<camera name>", '
    '"bbox_2d": [<x1>, <y1>, <x2>, <y2>], "point_2d": [<x>, <y>], "confidence": <number from 0 to 1>}, ...]'
)

LOCATE_INSTRUCTION = (
    "Locate each object the task names in the newest frame of the camera that shows it best (the first "
    'camera, when several show it equally well). List every object you can see in "objects": "bbox_2d" is '
    'the box tightly around it, "point_2d" a point on it where a gripper could take hold of it, "camera" '
    'the camera\'s name as quoted above. Leave out an object no camera shows; "objects" is an empty list '
    'when none is visible. "answer" says in one line where each object is, relative to the robot and to '
    "what is around it."
)

GROUND_TARGETS_INSTRUCTION = (
    'Also locate every object named in the "targets" of the steps in the newest frame: list each once in '
    '"objects", its "label" written exactly as in "targets".'
)


def coordinates_instruction(family: ModelFamily, clips: Sequence[PreparedClip], quote: Callable[[str], str]) -> str:
    """How to write coordinates, in the family's own convention. ``quote`` quotes a camera name."""
    corners = ('"bbox_2d" is [x1, y1, x2, y2]: the top-left corner, then the bottom-right corner; '
               '"point_2d" is [x, y].')
    if family.grounding_scale:
        n = family.grounding_scale
        return (f"Write every coordinate as an integer from 0 to {n}, normalised separately along each axis of "
                f"the frame: x from 0 (left edge) to {n} (right edge), y from 0 (top edge) to {n} (bottom "
                f"edge). {corners}")
    sizes = "; ".join(f"camera {quote(clip.camera)}: "
                      f"{clip.pixels.shape[2]}x{clip.content_height or clip.pixels.shape[1]}" for clip in clips)
    return ("Write every coordinate as an integer pixel position in the frame as you see it, origin at its "
            "top-left corner, x to the right, y down; frame sizes (width x height, the time strip below a frame "
            f"not included): {sizes}. {corners}")
