"""The node's ROS parameters: one table of specs, declared with descriptors, read into typed settings.

Every parameter has a type (from its default), a description, a range where numeric, a set of choices
where enumerated, and ``read_only`` where a change needs a restart (model, backend, cameras, QoS,
buffers). Dynamic ones take effect at the next goal. ``config/reasoner.yaml`` lists them all with the same
defaults; a test keeps the two in step.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, make_dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node

from cosmos_reason_ros.core.models.device_preprocess import PREPROCESS_BACKENDS
from cosmos_reason_ros.core.models.families import FAMILIES
from cosmos_reason_ros.core.models.openai_request import JPEG_QUALITY_RANGE, MEDIA, SERVERS, OpenAIConfig
from cosmos_reason_ros.core.models.transformers_backend import (
    ATTENTION_IMPLEMENTATIONS,
    BNB_4BIT_QUANT_TYPES,
    DTYPES,
    QUANTIZATIONS,
    TransformersConfig,
)

BUSY_POLICIES = ("preempt", "queue", "reject")
BACKENDS = ("local", "openai")
MODEL_FAMILIES = ("auto", *FAMILIES)
#: The backends' config dataclasses hold their own defaults; the parameters take them from there, so a
#: default is written once (test_config_and_launch checks that nothing restates them).
_LOCAL = TransformersConfig()
_OPENAI = OpenAIConfig()


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (which fixes its type), description and constraints."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" One of: {', '.join(self.choices)}."
        d = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.low is not None and self.high is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(self.low), to_value=float(self.high),
                                                             step=0.0)]
        return d


PARAMETERS: tuple[ParamSpec, ...] = (
    # Model
    ParamSpec("backend", "local", "Where the model runs: local (transformers on this machine) or openai "
              "(an OpenAI-compatible server such as vLLM, NIM or transformers serve).", True, choices=BACKENDS),
    ParamSpec("model", _LOCAL.model, "Hugging Face model id or local directory (local backend); "
              "served model name (openai backend).", True),
    ParamSpec("model_family", _LOCAL.model_family, "Prompt format: auto (from the model config; for the openai "
              "backend from the served name) or a family: " + ", ".join(FAMILIES) + ".", True,
              choices=MODEL_FAMILIES),
    ParamSpec("local.revision", _LOCAL.revision, "Hub revision (branch, tag or commit); empty = default branch.", True),
    ParamSpec("local.device", _LOCAL.device, "auto (cuda if available, else cpu), cpu, cuda or cuda:N.", True),
    ParamSpec("local.dtype", _LOCAL.dtype, "Weights dtype; auto = bfloat16 on CUDA, float32 on CPU.", True,
              choices=DTYPES),
    ParamSpec("local.attn_implementation", _LOCAL.attn_implementation, "Attention kernels; auto = "
              "flash_attention_2 when installed on CUDA, else sdpa.", True, choices=ATTENTION_IMPLEMENTATIONS),
    ParamSpec("local.quantization", _LOCAL.quantization, "bitsandbytes quantization (CUDA only): none, 4bit or "
              "8bit.", True, choices=QUANTIZATIONS),
    ParamSpec("local.bnb_4bit_quant_type", _LOCAL.bnb_4bit_quant_type, "4-bit quantization type.", True,
              choices=BNB_4BIT_QUANT_TYPES),
    ParamSpec("local.bnb_4bit_double_quant", _LOCAL.bnb_4bit_double_quant, "Quantize the 4-bit quantization "
              "constants too.", True),
    ParamSpec("local.offline", _LOCAL.offline, "Never contact the Hugging Face hub (also on when "
              "HF_HUB_OFFLINE=1).", True),
    ParamSpec("model_load_retry_period", 5.0, "s between attempts to load the model after a failure that may "
              "pass (a model server not reachable yet); 0 = try once.", True, 0.0, 3600.0),
    ParamSpec("local.warmup", _LOCAL.warmup, "Run a short generation after loading so the first goal is not "
              "slow.", True),
    ParamSpec("local.preprocess", _LOCAL.preprocess, "Where frames are normalised and patched: device (with torch "
              "on the model's device, each frame once) or processor (the transformers processor on the CPU, "
              "every request).", True, choices=PREPROCESS_BACKENDS),
    ParamSpec("openai.base_url", _OPENAI.base_url, "Server URL of the openai backend.", True),
    ParamSpec("openai.api_key_env", _OPENAI.api_key_env, "NAME of the environment variable holding the "
              "API key (the key itself is never a parameter); unset variable = no key.", True),
    ParamSpec("openai.request_timeout", _OPENAI.request_timeout, "s to wait for the server's response to start, "
              "and then for each streamed chunk.", True, 1.0, 3600.0),
    ParamSpec("openai.connect_timeout", _OPENAI.connect_timeout, "s to wait for a connection to the server.", True,
              0.1, 600.0),
    ParamSpec("openai.retries", _OPENAI.retries, "Retries on connection errors and HTTP 5xx/429 (never past the "
              "goal's deadline).", True, 0, 10),
    ParamSpec("openai.retry_backoff", _OPENAI.retry_backoff, "s before the first retry; doubles with each retry.",
              True, 0.0, 60.0),
    ParamSpec("openai.verify_tls", _OPENAI.verify_tls, "Verify the server's TLS certificate.", True),
    ParamSpec("openai.jpeg_quality", _OPENAI.jpeg_quality, "JPEG quality of frames sent to the server.", True,
              *JPEG_QUALITY_RANGE),
    ParamSpec("openai.media", _OPENAI.media, "How clips are sent: images (one JPEG per frame) or video.", True,
              choices=MEDIA),
    ParamSpec("openai.server", _OPENAI.server, "Kind of server: generic, vllm (video fps sent in mm_processor_kwargs) "
              "or nim (fps in media_io_kwargs; at most 1 video and 5 images per request).", True,
              choices=tuple(SERVERS)),
    # Cameras and buffering
    ParamSpec("cameras.names", ["front"], "Camera names. Each reads cameras.<name>.topic (default "
              "<name>/image_raw) and cameras.<name>.transport.", True),
    ParamSpec("qos.reliability", "best_effort", "Camera subscription reliability (best_effort = sensor data "
              "QoS, matches any publisher).", True, choices=("best_effort", "reliable")),
    ParamSpec("qos.depth", 5, "Camera subscription queue depth.", True, 1, 100),
    ParamSpec("buffer.seconds", 10.0, "s of recent frames kept per camera (by stamp).", True, 0.5, 600.0),
    ParamSpec("buffer.max_frames", 128, "Frames kept per camera at most; at least buffer.seconds x "
              "buffer.store_rate + 1 to hold the whole history (checked at start-up).", True, 2, 10000),
    ParamSpec("buffer.max_megabytes", 256.0, "MB of undecoded frames kept per camera at most (0 = no cap).",
              True, 0.0, 65536.0),
    ParamSpec("buffer.store_rate", 10.0, "Hz, at most this many frames per second are stored per camera, "
              "on average over the stamps (faster cameras are thinned on arrival; jitter is tolerated); 0 = "
              "store every frame.", True, 0.0, 1000.0),
    # Frame selection per goal
    ParamSpec("frames.history_seconds", 4.0, "s of video a goal looks at, unless the goal says otherwise.",
              False, 0.0, 600.0),
    ParamSpec("frames.max_frames", 8, "Frames per camera given to the model, unless the goal says otherwise.",
              False, 1, 256),
    ParamSpec("frames.fps", 2.0, "Hz, sampling rate of frames within the history window.", False, 0.01, 60.0),
    ParamSpec("frames.stale_after", 2.0, "s; a camera whose newest frame is older than this is stale "
              "(STALE_FRAMES).", False, 0.0, 3600.0),
    ParamSpec("frames.wait_timeout", 1.0, "s to wait for a fresh frame before NO_FRAMES / STALE_FRAMES.",
              False, 0.0, 60.0),
    # Video budget
    ParamSpec("video.max_visual_tokens", 4096, "Visual tokens for all cameras together; frames shrink, then "
              "drop, to fit.", False, 16, 32768),
    ParamSpec("video.max_frame_pixels", 307200, "Pixels per frame at most (640x480 = 307200).", False,
              784, 16777216),
    ParamSpec("video.min_frame_pixels", 50176, "Frames are not shrunk below this many pixels to fit the token "
              "budget (224x224 = 50176); frames are dropped instead.", False, 784, 16777216),
    ParamSpec("video.timestamp_overlay", True, "Draw each frame's time under it for models that expect it "
              "(Reason1).", False),
    # Generation
    ParamSpec("generation.max_new_tokens", 2048, "Token budget (reasoning + answer) unless the goal says "
              "otherwise.", False, 1, 16384),
    ParamSpec("generation.temperature", -1.0, "Sampling temperature; -1 = the model family's default, 0 = greedy.",
              False, -1.0, 5.0),
    ParamSpec("generation.top_p", -1.0, "Nucleus sampling; -1 = family default.", False, -1.0, 1.0),
    ParamSpec("generation.top_k", -1, "Top-k sampling; -1 = family default, 0 = off.", False, -1, 1000),
    ParamSpec("generation.repetition_penalty", -1.0, "-1 = family default.", False, -1.0, 5.0),
    ParamSpec("generation.seed", -1, "Sampling seed for reproducible answers; -1 = random.", False, -1, 2**31 - 1),
    # Goals
    ParamSpec("busy_policy", "preempt", "What a new goal does while another runs: preempt (the running goal "
              "ends PREEMPTED), queue (waits its turn) or reject.", False, choices=BUSY_POLICIES),
    ParamSpec("max_queue", 4, "Goals waiting at most (busy_policy queue); more are rejected.", False, 1, 100),
    ParamSpec("goal_timeout", 120.0, "s, default deadline of a goal (TIMEOUT when passed).", False, 0.1, 3600.0),
    ParamSpec("max_task_chars", 2000, "Longest task text accepted (INVALID_GOAL beyond).", False, 1, 100000),
    ParamSpec("accept_partial_answers", False,
              "true: a goal whose answer was cut off (token budget) but whose finished "
              "part has what the mode needs SUCCEEDS with plan.completeness COMPLETENESS_PARTIAL; false: it ends "
              "PARSE_FAILED with the partial plan.", False),
    ParamSpec("model_wait_timeout", 0.0, "s a goal waits for a loading model; 0 = answer MODEL_NOT_READY at once.",
              False, 0.0, 3600.0),
    ParamSpec("feedback_rate", 10.0, "Hz, most feedback messages per second per goal.", False, 0.1, 100.0),
    # Outputs
    ParamSpec("publish_markers", True, "Publish ~/markers (visualization_msgs/MarkerArray) for rviz.", False),
    ParamSpec("publish_annotated_image", True, "Publish ~/annotated_image: the last frame with verdict and steps.",
              False),
    ParamSpec("markers.frame_id", "cosmos_reasoner", "Frame of the text markers (rviz's fixed frame in "
              "config/reasoner.rviz); empty = the camera's frame_id.", False),
    ParamSpec("diagnostics_period", 1.0, "s between /diagnostics messages.", True, 0.1, 60.0),
    # Depth (3D points of located objects; per camera: cameras.<name>.depth_topic and .camera_info_topic)
    ParamSpec("depth.max_offset", 0.1, "s, a depth image is used for a located object only when its stamp is "
              "this close to the colour frame's (the nearest buffered one is taken).", False, 0.0, 10.0),
    ParamSpec("depth.window", 2, "Depth pixels around a located point on each side: its depth is the median of "
              "the valid ones in the (2 x window + 1) square.", False, 0, 50),
    ParamSpec("depth.box_fraction", 0.5, "Fraction of a box's width and height, around its centre, whose valid "
              "depth pixels give the box's depth (median).", False, 0.05, 1.0),
    ParamSpec("depth.max_range", 20.0, "m, depth readings farther than this are invalid (as are 0, NaN and inf).",
              False, 0.1, 1000.0),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class CameraConfig:
    """One camera: name, topic and whether it publishes CompressedImage."""

    name: str
    topic: str
    compressed: bool
    depth_topic: str = ""  # aligned depth image (16UC1 mm or 32FC1 m); "" = none
    camera_info_topic: str = ""  # its sensor_msgs/CameraInfo ("" when there is no depth topic)


def declare_parameters(node: Node) -> None:
    """Declare every parameter with its descriptor, then the per-camera ones."""
    for spec in PARAMETERS:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
    for name in node.get_parameter("cameras.names").value:
        if name == "names" or not name.replace("_", "").isalnum():
            raise ValueError(f"camera name {name!r} must be letters, digits and underscores (and not 'names')")
        node.declare_parameter(f"cameras.{name}.topic", f"{name}/image_raw", ParameterDescriptor(
            description=f"Image topic of camera {name!r}.", read_only=True))
        node.declare_parameter(f"cameras.{name}.transport", "auto", ParameterDescriptor(
            description="raw (sensor_msgs/Image), compressed (sensor_msgs/CompressedImage) or auto "
                        "(compressed when the topic ends in /compressed).", read_only=True))
        node.declare_parameter(f"cameras.{name}.depth_topic", "", ParameterDescriptor(
            description="Depth image aligned to this camera (16UC1 in mm or 32FC1 in m), for 3D points of located "
                        "objects; empty = none.", read_only=True))
        node.declare_parameter(f"cameras.{name}.camera_info_topic", "", ParameterDescriptor(
            description="sensor_msgs/CameraInfo of the depth image; empty = camera_info beside depth_topic.",
            read_only=True))


def camera_configs(node: Node) -> list[CameraConfig]:
    cameras = []
    for name in node.get_parameter("cameras.names").value:
        topic = node.get_parameter(f"cameras.{name}.topic").value
        transport = node.get_parameter(f"cameras.{name}.transport").value
        if transport not in ("auto", "raw", "compressed"):
            raise ValueError(f"cameras.{name}.transport must be auto, raw or compressed, got {transport!r}")
        compressed = transport == "compressed" or (transport == "auto" and topic.rstrip("/").endswith("/compressed"))
        depth = node.get_parameter(f"cameras.{name}.depth_topic").value.strip()
        info = node.get_parameter(f"cameras.{name}.camera_info_topic").value.strip()
        if depth and not info:
            info = depth.rstrip("/").rsplit("/", 1)[0] + "/camera_info" if "/" in depth.rstrip("/") else "camera_info"
        cameras.append(CameraConfig(name, topic, compressed, depth, info if depth else ""))
    return cameras


def check_choices(parameters: list) -> SetParametersResult:
    """on_set_parameters callback: enforce the enumerated choices rclpy cannot express."""
    for parameter in parameters:
        spec = SPECS.get(parameter.name)
        if spec and spec.choices and parameter.value not in spec.choices:
            return SetParametersResult(successful=False, reason=(
                f"{parameter.name} must be one of {', '.join(spec.choices)}, got {parameter.value!r}"))
    return SetParametersResult(successful=True)


def _read_settings(cls: type, node: Node) -> Any:
    """A typed snapshot of the node's parameters now."""
    values = {spec.name.replace(".", "_"): node.get_parameter(spec.name).value for spec in PARAMETERS}
    names = {f.name for f in fields(cls)}
    missing = names - values.keys()
    if missing:
        raise KeyError(f"settings without a parameter: {sorted(missing)}")
    return cls(**values)


#: A typed snapshot of the parameters, one field per entry of PARAMETERS (dots become underscores), typed
#: by its default. Generated, so a parameter is declared in one place only.
Settings = make_dataclass(
    "Settings", [(spec.name.replace(".", "_"), type(spec.default)) for spec in PARAMETERS], frozen=True,
    namespace={"read": classmethod(_read_settings),
               "__doc__": "A typed snapshot of the parameters (dots become underscores); see PARAMETERS."})
Settings.__module__ = __name__


#: How a part reads the settings in force now (parameter changes replace the Settings object).
SettingsSource = Callable[[], Settings]
