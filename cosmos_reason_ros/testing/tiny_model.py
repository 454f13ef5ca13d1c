"""Write a tiny, real-architecture Cosmos Reason model directory: no download; 10-15 s on an idle 2-core CPU.

Measured 2026-12-01 on a 2-core CPU: 10 s (reason1) and 14 s (reason2) for the 300 default training steps,
a minute or two when other work shares the CPU; ``--no-teach`` takes a few seconds.

The directory holds what a real checkpoint holds (config, weights, a byte-level BPE tokenizer with the
Qwen special tokens and a chat template, image and video processor configs), so it loads through exactly
the code path users run with the real checkpoints. Four families:

* ``reason1``: ``Qwen2_5_VLForConditionalGeneration`` (the Cosmos-Reason1 architecture)
* ``reason2``: ``Qwen3VLForConditionalGeneration`` (the Cosmos-Reason2 architecture)
* ``cosmos3``: ``Cosmos3OmniForConditionalGeneration`` (the Cosmos 3 Nano/Super reasoner, a Qwen3-VL)
* ``cosmos3_edge``: ``Cosmos3EdgeForConditionalGeneration`` with its own SigLIP2 processors and a chat template
  that opens the answer with ``<think>`` (as Cosmos3-Edge's does), ``<s>``/``</s>`` among its specials

Weights are randomly initialised, so the model emits arbitrary tokens. With ``teach=True`` the model is
then trained for a few hundred steps (real forward and backward passes of the real classes) to answer
every prompt with one well-formed reasoning and JSON answer in its family's format, so the whole
pipeline can be exercised end to end, parsing included. It knows nothing about the images.

Command line: ``ros2 run cosmos_reason_ros make_tiny_model OUT_DIR [--family reason2] [--scenario blocked]
[--no-teach]``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from importlib import resources
from itertools import pairwise
from pathlib import Path

#: The families a tiny model can be written for (``--family``).
TINY_FAMILIES = ("reason1", "reason2", "cosmos3", "cosmos3_edge")
#: Extra special tokens of a family's vocabulary (Cosmos3-Edge's Nemotron-style sentence markers).
EXTRA_SPECIAL_TOKENS = {"cosmos3_edge": ("<s>", "</s>")}

#: Special tokens of the Qwen-VL vocabularies, in the order their ids are assigned after the BPE vocabulary.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_STEP_PICK = {
    "action": "pick",
    "description": "pick up the red cup",
    "targets": ["red cup"],
    "preconditions": ["gripper is empty"],
    "success_criterion": "the cup is lifted off the table",
    "feasibility_note": "the cup is light and within reach",
}

#: What a taught model answers, per scenario: (reasoning, answer). Each answer carries every key any mode
#: asks for, so every mode parses. "reachable" is a feasible plan; "blocked" an infeasible one. To a watch
#: question (Mode.WATCH) "reachable" answers "no" (nothing wrong) and "blocked" "yes".
SCENARIOS: dict[str, tuple[str, dict]] = {
    "reachable": (
        "The red cup stands upright on the table, well inside the arm's reach. The gripper is empty and "
        "nothing blocks the path, so the cup can be grasped and moved to the tray.",
        {
            "subtasks": [
                _STEP_PICK,
                {
                    "action": "place",
                    "description": "place the red cup on the tray",
                    "targets": ["red cup", "tray"],
                    "preconditions": ["the cup is grasped"],
                    "success_criterion": "the cup rests on the tray",
                    "feasibility_note": "",
                },
            ],
            "next_action": dict(_STEP_PICK, feasibility_note=""),
            "feasible": "yes",
            "confidence": 0.9,
            "blocking_factors": [],
            "explanation": "the cup is within reach and nothing blocks it",
            "completed": "no",
            "answer": "Pick up the red cup, then place it on the tray.",
            "observed": "no",  # Mode.WATCH: nothing is wrong in this scene
        },
    ),
    "blocked": (
        "The red cup is inside a closed glass cabinet. The arm cannot open the cabinet door from where it "
        "stands, so the cup cannot be reached.",
        {
            "subtasks": [dict(_STEP_PICK, feasibility_note="the cabinet door blocks the gripper")],
            "next_action": {"action": "open", "description": "open the cabinet door", "targets": ["cabinet door"],
                            "preconditions": [], "success_criterion": "the door is open", "feasibility_note": ""},
            "feasible": "no",
            "confidence": 0.8,
            "blocking_factors": ["the cup is behind a closed glass door"],
            "explanation": "a closed door blocks the only path to the cup",
            "completed": "no",
            "answer": "The cup cannot be reached: the cabinet is closed.",
            "observed": "yes",  # Mode.WATCH: something is wrong (the cup is shut away)
        },
    ),
}

#: The answer of the default scenario (kept as a name for readers of tests).
TAUGHT_ANSWER: dict = SCENARIOS["reachable"][1]

#: Answers with located objects (Mode.LOCATE, and plans whose targets are grounded): the "reachable" answer
#: plus an "objects" list, so every JSON mode still parses. The coordinates are read in each family's own
#: convention (Reason1: pixels of the resized frame; Reason2: 0-1000 per axis); the model knows no image.
GROUNDED_SCENARIOS: dict[str, tuple[str, dict]] = {
    "grounded": (
        "The red cup stands on the table left of the tray; the tray lies flat to its right. Both are in reach.",
        dict(TAUGHT_ANSWER, objects=[
            {"label": "red cup", "bbox_2d": [100, 80, 200, 160], "point_2d": [150, 120], "confidence": 0.9},
            {"label": "tray", "bbox_2d": [220, 90, 300, 170]}]),
    ),
}

_STEP_GRAB = {
    "skill": "grab",
    "arguments": {"object": "red cup", "grip": "firm"},
    "description": "grip the red cup firmly and lift it",
    "targets": ["red cup"],
    "preconditions": ["the gripper is empty"],
    "success_criterion": "the cup is lifted off the table",
    "feasibility_note": "a gentle grip let the cup slip before",
}

#: Answers in the robot's skills (a skill library, README "Plans in the robot's skills"), written as the re-plan
#: after a failed gentle grasp: a step under a synonym ("grab" for "pick") with a choice argument, and a
#: step with a number argument (height 0.05 m). Every mode still parses: "completed" is "yes" (so a step's
#: verification, MODE_VERIFY_COMPLETION, says done), which a plan with steps reads as not done, with a warning.
#: Which library it meets decides the rest: a synonym mapped, an unknown skill, an argument out of range.
SKILL_SCENARIOS: dict[str, tuple[str, dict]] = {
    "skills": (
        "The cup slipped from a gentle grip before. A firm grip on its body holds it; then it goes onto the tray, "
        "set down from just above it.",
        {
            "subtasks": [
                _STEP_GRAB,
                {
                    "skill": "place",
                    "arguments": {"object": "red cup", "location": "tray", "height": 0.05},
                    "description": "set the red cup down on the tray",
                    "targets": ["red cup", "tray"],
                    "preconditions": ["the cup is grasped"],
                    "success_criterion": "the cup rests on the tray",
                    "feasibility_note": "",
                },
            ],
            "next_action": _STEP_GRAB,
            "feasible": "yes",
            "confidence": 0.85,
            "blocking_factors": [],
            "explanation": "a firm grip keeps the cup from slipping again",
            "completed": "yes",
            "answer": "Grip the red cup firmly, then place it on the tray.",
            "observed": "no",
        },
    ),
}

#: Critic answers (Mode.CRITIC), per scenario and family, in each family's published critic format:
#: Reason1 analyses components and answers Yes/No to "any anomalies?", Reason2 gives a 1-5 score, Cosmos 3
#: picks "(A) Possible" or "(B) Impossible".
#: Each component is one line so that every taught piece is distinct.
CRITIC_SCENARIOS: dict[str, dict[str, str]] = {
    "critic_plausible": {
        "reason1": (
            "<think>\n<overview>A red cup rests on a table while the arm reaches for it.</overview>\n"
            '<component name="red cup"><analysis>The cup keeps its shape and stays on the table.</analysis>'
            "<anomaly>No</anomaly></component>\n"
            '<component name="arm"><analysis>The arm moves smoothly and stops at the cup.</analysis>'
            "<anomaly>No</anomaly></component>\n</think>\n\n<answer>\nNo\n</answer>"),
        "reason2": ("<think>\nThe cup keeps its shape, the arm moves smoothly and nothing flickers.\n</think>\n\n"
                    "4"),
        "cosmos3": "<think>\nThe cup stays whole and the arm only moves what it touches.\n</think>\n\nA",
        "cosmos3_edge": "<think>\nThe cup stays whole and the arm only moves what it touches.\n</think>\n\nA",
    },
    "critic_artifact": {
        "reason1": (
            "<think>\n<overview>A red cup on a table; the arm sweeps across it.</overview>\n"
            '<component name="red cup"><analysis>The cup vanishes for two frames.</analysis>'
            "<anomaly>Yes</anomaly></component>\n"
            '<component name="table"><analysis>The table stays still and solid.</analysis>'
            "<anomaly>No</anomaly></component>\n</think>\n\n<answer>\nYes\n</answer>"),
        "reason2": "<think>\nThe cup vanishes for two frames and the arm passes through it.\n</think>\n\n2",
        "cosmos3": "<think>\nThe cup vanishes for two frames, so this cannot happen.\n</think>\n\nB",
        "cosmos3_edge": "<think>\nThe cup vanishes for two frames, so this cannot happen.\n</think>\n\nB",
    },
}


#: One-token watch answers (a watch check without reasoning, ``core.modes.watches.check_one_token``): the model
#: answers every prompt, asked WITHOUT reasoning (Cosmos3-Edge's template with its thinking switch off), with
#: this one word as its first token, then ends its turn. The word is a single token of the default vocabulary.
WATCH_SCENARIOS: dict[str, str] = {"watch_yes": "yes", "watch_no": "no"}


def taught_output(family: str, scenario: str = "reachable") -> str:
    """The exact text a taught tiny model of ``family`` generates (before its end-of-turn token)."""
    if scenario in WATCH_SCENARIOS:
        return WATCH_SCENARIOS[scenario]
    if scenario in CRITIC_SCENARIOS:
        return CRITIC_SCENARIOS[scenario][family]
    reasoning, answer_obj = {**SCENARIOS, **GROUNDED_SCENARIOS, **SKILL_SCENARIOS}[scenario]
    answer = json.dumps(answer_obj, separators=(", ", ": "))
    if family == "reason1":
        return f"<think>\n{reasoning}\n</think>\n\n<answer>\n{answer}\n</answer>"
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"  # Reason2 and Cosmos 3: the answer right after </think>


def taught_pieces(family: str, scenario: str = "reachable") -> list[str]:
    """The taught output cut into distinct chunks, each added to the vocabulary as one token.

    Every chunk is a line with its newlines attached (JSON lines are cut further, before each top-level
    key). With every token of the answer distinct, the answer is a chain a tiny model learns in a few
    hundred steps and reproduces whatever the prompt's length, while the answer still streams as several
    tokens.
    """
    pieces: list[str] = []
    for line in re.split(r"(?<=\n)(?!\n)", taught_output(family, scenario)):
        pieces.extend(_json_chunks(line) if line.startswith("{") else [line])
    if len(set(pieces)) != len(pieces):
        raise AssertionError("taught pieces must be distinct")
    return pieces


def _json_chunks(line: str) -> list[str]:
    """Cut a JSON line before each top-level key, so each chunk is distinct."""
    keys = [f'"{k}": ' for k in TAUGHT_ANSWER]
    cuts = sorted(line.index(k) for k in keys[1:])
    bounds = [0, *cuts, len(line)]
    return [line[a:b] for a, b in pairwise(bounds)]


#: The chat template file of each family's tiny model (the package's testing folder).
CHAT_TEMPLATES = {"cosmos3_edge": "chat_template_edge.jinja"}


def _chat_template(family: str = "reason1") -> str:
    name = CHAT_TEMPLATES.get(family, "chat_template.jinja")
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def build_tokenizer(vocab_size: int = 1024, critic: str = "", family: str = "reason1",
                    corpus_extra: Sequence[str] = ()):
    """A byte-level BPE tokenizer trained on the package's own prompt and answer vocabulary; ``critic`` (a
    CRITIC_SCENARIOS, GROUNDED_SCENARIOS or SKILL_SCENARIOS name) adds that answer's pieces (the default
    vocabulary stays as it was); ``family`` picks the chat template and any extra special tokens; ``corpus_extra``
    adds texts to learn merges from (the visual models' prompts, so a prompt is a few hundred tokens, not a
    thousand)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        *(taught_output(family, scenario) for family in ("reason1", "reason2") for scenario in SCENARIOS),
        "You are a helpful assistant. Answer the question in the following format: <think> your reasoning "
        "</think> <answer> your answer </answer>. Write your final answer immediately after the </think> tag.",
        "Camera frames covering seconds. Task: decompose feasibility next action verify completion question "
        "subtasks feasible confidence blocking_factors explanation completed answer observed JSON object keys",
        *corpus_extra,
    ] * 4
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens([*SPECIAL_TOKENS, *EXTRA_SPECIAL_TOKENS.get(family, ())])
    # <think> and friends are ordinary (non-special) tokens in Qwen vocabularies: they survive decoding.
    tok.add_tokens(["<think>", "</think>", "<answer>", "</answer>"])
    taught = {p for family in ("reason1", "reason2") for scenario in SCENARIOS
              for p in taught_pieces(family, scenario)}
    if critic:
        answers = CRITIC_SCENARIOS.get(critic) or dict.fromkeys(("reason1", "reason2"))
        taught |= {p for name in answers for p in taught_pieces(name, critic)}
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in sorted(taught)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=32768,
    )
    fast.chat_template = _chat_template(family)
    if family == "cosmos3_edge":  # as Edge's own tokenizer config says: its M-RoPE needs the token types
        fast.init_kwargs["return_mm_token_type_ids"] = True
    return fast


def _token_ids(tokenizer) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def build_model(family: str, tokenizer, seed: int = 0):
    """A randomly initialised tiny model of ``family`` whose vocabulary matches ``tokenizer``."""
    import torch

    torch.manual_seed(seed)
    ids = _token_ids(tokenizer)
    vocab = len(tokenizer)
    common = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    text = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    if family == "reason1":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        config = Qwen2_5_VLConfig(
            text_config=dict(text, rope_parameters={"rope_type": "default", "mrope_section": [4, 2, 2],
                                                    "rope_theta": 1000000.0}),
            vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                               patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                               fullatt_block_indexes=[1], tokens_per_second=2),
            **common,
        )
        model = Qwen2_5_VLForConditionalGeneration(config)
    elif family in ("reason2", "cosmos3"):  # Cosmos 3 Nano/Super: a Qwen3-VL under its own model_type
        from transformers import (
            Cosmos3OmniConfig,
            Cosmos3OmniForConditionalGeneration,
            Qwen3VLConfig,
            Qwen3VLForConditionalGeneration,
        )

        config_class, model_class = ((Qwen3VLConfig, Qwen3VLForConditionalGeneration) if family == "reason2"
                                     else (Cosmos3OmniConfig, Cosmos3OmniForConditionalGeneration))
        config = config_class(
            text_config=dict(text, head_dim=16, rope_parameters={"rope_type": "default", "mrope_section": [4, 2, 2],
                                                                 "mrope_interleaved": True, "rope_theta": 5000000.0}),
            vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                               patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                               num_position_embeddings=64, deepstack_visual_indexes=[1]),
            **common,
        )
        model = model_class(config)
    elif family == "cosmos3_edge":  # relu² decoder with mRoPE (sections sum to head_dim / 2), SigLIP2 vision
        from transformers import Cosmos3EdgeConfig, Cosmos3EdgeForConditionalGeneration

        config = Cosmos3EdgeConfig(
            text_config=dict(text, head_dim=16, rope_parameters={"rope_type": "default", "mrope_section": [4, 2, 2],
                                                                 "rope_theta": 100_000_000.0}),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               patch_size=16, num_patches=64, spatial_merge_size=2),
            projector_hidden_size=64,
            **common,
        )
        model = Cosmos3EdgeForConditionalGeneration(config)
    else:
        raise ValueError(f"unknown family {family!r}: choose one of {', '.join(TINY_FAMILIES)}")
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model


def build_processor(family: str, tokenizer):
    """The stock processor of the family (needs torchvision for its video half)."""
    if family == "reason1":
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        image = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=448 * 448, patch_size=14)
        video = Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=448 * 448, patch_size=14)
        return Qwen2_5_VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=video,
                                   chat_template=tokenizer.chat_template)
    if family == "cosmos3_edge":  # its own processors; video metadata returned, as its checkpoint's config says
        from transformers import Cosmos3EdgeImageProcessor, Cosmos3EdgeProcessor, Cosmos3EdgeVideoProcessor

        size = {"shortest_edge": 64 * 64, "longest_edge": 448 * 448}
        return Cosmos3EdgeProcessor(image_processor=Cosmos3EdgeImageProcessor(size=size), tokenizer=tokenizer,
                                    video_processor=Cosmos3EdgeVideoProcessor(size=size, return_metadata=True),
                                    chat_template=tokenizer.chat_template)
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    image = Qwen2VLImageProcessor(min_pixels=64 * 64, max_pixels=448 * 448, patch_size=16)
    video = Qwen3VLVideoProcessor(size={"shortest_edge": 64 * 64, "longest_edge": 448 * 448}, patch_size=16)
    return Qwen3VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=video,
                            chat_template=tokenizer.chat_template)


def _training_batch(processor, family: str, rng, answer_text: str, switches: dict | None = None):
    """One prompt (random frames, random-length text, 1-2 cameras) followed by the taught answer."""
    import numpy as np

    from cosmos_reason_ros.core.models.families import FAMILIES
    from cosmos_reason_ros.core.models.transformers_backend import processor_geometry, video_options

    side = processor_geometry(processor, FAMILIES[family]).pixels_per_token_side
    cameras = int(rng.integers(1, 3))
    frames = int(rng.integers(1, 5)) * 2
    height, width = (int(rng.integers(1, 5)) * side for _ in range(2))
    videos = [rng.integers(0, 255, size=(frames, height, width, 3), dtype=np.uint8) for _ in range(cameras)]
    words = ["task", "cup", "table", "reach", "arm", "camera", "frames", "JSON", "answer", "feasible", '"', ":",
             "subtasks", "the", "a", "robot", "\n", "format", "Task", "keys", "object"]
    content = []
    for i in range(cameras):
        content.append({"type": "text", "text": f"Camera {i}: {frames} frames."})
        content.append({"type": "video"})
    content.append({"type": "text", "text": " ".join(rng.choice(words, size=int(rng.integers(3, 160))))})
    system = " ".join(rng.choice(words, size=int(rng.integers(3, 60))))
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]},
                {"role": "user", "content": content}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **(switches or {}))
    metadata = [{"fps": 2.0, "total_num_frames": frames, "frames_indices": list(range(frames))}] * cameras
    videos_kwargs = {"do_resize": False, "video_metadata": metadata, "do_sample_frames": False,
                     **video_options(processor.video_processor)}  # as the backend sends them
    inputs = processor(text=[prompt + answer_text], videos=videos, return_tensors="pt", videos_kwargs=videos_kwargs)
    inputs.pop("video_metadata", None)  # for the prompt's frame times; not a model input
    prompt_len = len(processor(text=[prompt], videos=videos, return_tensors="pt",
                               videos_kwargs=videos_kwargs)["input_ids"][0])
    labels = inputs["input_ids"].clone()
    labels[:, :prompt_len] = -100
    inputs["labels"] = labels
    return inputs


def teach(model, processor, family: str, steps: int = 300, seed: int = 0, log=None,
          scenario: str = "reachable") -> float:
    """Train ``model`` to answer any prompt with ``taught_output(family, scenario)``; return the final loss."""
    import numpy as np
    import torch

    from cosmos_reason_ros.core.models.transformers_backend import opened_reasoning, template_switches

    rng = np.random.default_rng(seed)
    answer_text = taught_output(family, scenario) + "<|im_end|>"
    # A watch answer is asked without reasoning: the template's thinking switch off, as the backend sends it.
    switches = template_switches(processor, reasoning=scenario not in WATCH_SCENARIOS)
    probe = processor.apply_chat_template([{"role": "user", "content": "?"}], tokenize=False,
                                          add_generation_prompt=True, **switches)
    opener = opened_reasoning(probe)  # Edge's template writes "<think>\n": the model goes on from there
    answer_text = answer_text.removeprefix(opener)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    for step in range(steps):
        batch = _training_batch(processor, family, rng, answer_text, switches)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if log and step % 50 == 0:
            log(f"step {step}: loss {loss_value:.4f}")
    model.eval()
    return loss_value


def write_tiny_model(out_dir: Path | str, family: str = "reason1", teach_answer: bool = True, steps: int = 300,
                     seed: int = 0, log=None, scenario: str = "reachable") -> Path:
    """Create (or overwrite) a tiny model directory at ``out_dir`` and return its path.

    ``scenario`` picks the taught answer: "reachable" (a feasible two-step plan), "blocked" (infeasible),
    "grounded" (with located objects), "skills" (steps in skills with typed arguments), a critic verdict:
    "critic_plausible" / "critic_artifact" (``CRITIC_SCENARIOS``), or a one-token watch answer "watch_yes" /
    "watch_no" (``WATCH_SCENARIOS``).
    """
    known = [*SCENARIOS, *GROUNDED_SCENARIOS, *SKILL_SCENARIOS, *CRITIC_SCENARIOS, *WATCH_SCENARIOS]
    if scenario not in known:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {', '.join(known)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    taught = scenario in CRITIC_SCENARIOS or scenario in GROUNDED_SCENARIOS or scenario in SKILL_SCENARIOS
    tokenizer = build_tokenizer(critic=scenario if taught else "", family=family)
    model = build_model(family, tokenizer, seed=seed)
    processor = build_processor(family, tokenizer)
    if teach_answer:
        teach(model, processor, family, steps=steps, seed=seed, log=log, scenario=scenario)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "TINY_MODEL.md").write_text(
        f"Tiny random-weight {family} model written by cosmos_reason_ros.testing.tiny_model "
        f"(taught answer: {scenario if teach_answer else 'none'}). For plumbing tests only: it knows nothing "
        "about images.\n",
        encoding="utf-8",
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the model into")
    parser.add_argument("--family", choices=TINY_FAMILIES, default="reason1")
    parser.add_argument("--no-teach", dest="teach", action="store_false",
                        help="keep the random weights (the model then emits arbitrary tokens)")
    parser.add_argument("--scenario", choices=(*SCENARIOS, *GROUNDED_SCENARIOS, *SKILL_SCENARIOS, *CRITIC_SCENARIOS,
                                               *WATCH_SCENARIOS),
                        default="reachable",
                        help="taught answer: reachable (feasible plan, default), blocked (infeasible), "
                             "grounded (the feasible plan with located objects), skills (a re-plan in skills with "
                             "typed arguments), critic_plausible or critic_artifact (a critic verdict), "
                             "watch_yes or watch_no (one word, asked without reasoning)")
    parser.add_argument("--steps", type=int, default=300, help="training steps when teaching (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.monotonic()
    path = write_tiny_model(args.out_dir, args.family, args.teach, args.steps, args.seed, log=print,
                            scenario=args.scenario)
    print(f"wrote {args.family} tiny model to {path} in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
