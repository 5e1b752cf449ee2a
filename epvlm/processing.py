"""Turning (images, questions, choices[, answers], keep masks) into Qwen2-VL tensors.

One encoder (`encode_batch`) serves training and evaluation alike, so the two cannot drift
apart. It writes one of two prompt formats (`prompt_format`):

* ``chat`` when the checkpoint ships a chat template (the Instruct models): the template
  renders a system prompt and a user turn with the image before the text, as the models were
  trained; multiple choice is asked as lettered options followed by `epvlm.answers.MC_INSTRUCTION`,
  as public VLM harnesses ask RealWorldQA (`build_chat_prompt`).
* ``plain`` for checkpoints without a template (the tiny models trained here): the question
  before the image and the options as a comma list (`build_prompt`), the format they learnt.

Without torchvision the stock ``Qwen2VLProcessor`` cannot build its video processor; the
processor here is an image-only subclass of it that saves and loads like the original, so a
real checkpoint directory (``preprocessor_config.json`` + tokenizer files) and a tiny model
saved by `build_offline_processor(...).save_pretrained(dir)` go through the same code path.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Qwen2VLProcessor

from epvlm._constants import PROMPT_FORMATS
from epvlm.errors import KeepMaskError, ModelDirError
from epvlm.loading import check_checkpoint_folder, check_model_dir
from epvlm.prior import _check_mask_shape, check_image
from eventsim.errors import ParameterError

__all__ = [
    "CHAT_PROMPT_WORDS",
    "CONFIG_TOKEN_FIELDS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_PIXELS",
    "DEFAULT_SYSTEM_PROMPT",
    "IMAGE_TOKEN",
    "IM_END",
    "IM_START",
    "MAX_ASPECT_RATIO",
    "PAD_TOKEN",
    "PROCESSOR_JSON_FILES",
    "PROMPT_WORDS",
    "QWEN2VL_SPECIAL_TOKENS",
    "QWEN_STYLE_CHAT_TEMPLATE",
    "TOKENIZER_FILES",
    "UNK_TOKEN",
    "VISION_END",
    "VISION_START",
    "EPQwen2VLProcessor",
    "answer_text",
    "build_chat_prompt",
    "build_offline_processor",
    "build_offline_tokenizer",
    "build_prompt",
    "chat_template_of",
    "check_image_size",
    "check_token_ids",
    "decode_answers",
    "encode_batch",
    "grid_for_size",
    "load_processor",
    "min_image_tokens",
    "normalize_answer",
    "prompt_format",
    "question_text",
    "tokens_per_image",
    "vocab_from_texts",
    "words_of",
]

# Qwen2-VL's added tokens in the order of their ids (151643 ... 151656 in the real vocabulary).
QWEN2VL_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
UNK_TOKEN = "<unk>"
IMAGE_TOKEN = "<|image_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"

# Words the prompt template itself uses; the offline tokenizer always contains them.
PROMPT_WORDS: tuple[str, ...] = ("user", "assistant", "options", ":", ",", ".", "?")

# Words of the chat prompt (system prompt, option letters, instruction) an offline tokenizer
# with a chat template needs.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
CHAT_PROMPT_WORDS: tuple[str, ...] = (
    "system",
    DEFAULT_SYSTEM_PROMPT,
    "Answer with the option's letter from the given choices directly.",
    *"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
)

# A chat template with Qwen2-VL's layout (default system turn, image placeholder where the
# content list has an image, generation prompt), for offline tokenizers in tests; real
# checkpoints bring their own.
QWEN_STYLE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Pixel budget of the tiny offline processor: 56x56 (4 tokens) up to 448x448 (256 tokens).
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 448 * 448


class EPQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2-VL processor without the video processor (which needs torchvision).

    It carries the image processor and the tokenizer; `encode_batch` does the encoding so the
    number of ``<|image_pad|>`` tokens can follow a keep mask instead of the dense grid.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


def _pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Whitespace()


def words_of(text: str) -> list[str]:
    """Split text the way the offline word-level tokenizer does (lower case, words/punctuation)."""
    return [w for w, _ in _pre_tokenizer().pre_tokenize_str(text.lower())]


def vocab_from_texts(texts: Sequence[str]) -> list[str]:
    """Every word (sorted, unique) the offline tokenizer needs to encode ``texts`` without <unk>."""
    words: set[str] = set()
    for text in texts:
        words.update(words_of(text))
    return sorted(words)


def normalize_answer(text: str) -> str:
    """Canonical form for comparing a generated answer with the reference answer: the normal
    form the scorer (`epvlm.answers`) and the dataset builder read, so a check made with it
    agrees with the scored result. (It was the offline tokenizer's word split, which told "2.0"
    from "2" and counted text after ``<|endoftext|>``.)"""
    from eventsim.datasets.questions import normalize_text

    return normalize_text(text)


def build_offline_tokenizer(vocab_words: Sequence[str], *, chat_template: str | None = None):
    """Word-level tokenizer with Qwen2-VL's special tokens at ids 0..13 and ``<unk>`` at 14.

    A tiny config built from it (`epvlm.tiny.tiny_config`) takes its token ids from this
    tokenizer, so the ids the config expects and the ids the tokenizer emits always agree.
    With a ``chat_template`` the words of the chat prompt join the vocabulary.
    """
    if chat_template is not None:
        vocab_words = [*vocab_words, *CHAT_PROMPT_WORDS]
    from tokenizers import AddedToken, Tokenizer, models, normalizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*QWEN2VL_SPECIAL_TOKENS, UNK_TOKEN):
        vocab[token] = len(vocab)
    for word in sorted({w for text in (*PROMPT_WORDS, *vocab_words) for w in words_of(text)}):
        if word not in vocab:
            vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = _pre_tokenizer()
    backend.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t in (*QWEN2VL_SPECIAL_TOKENS, UNK_TOKEN)
        ]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        eos_token=IM_END,
        padding_side="left",
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def _image_processor(min_pixels: int, max_pixels: int):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)


def build_offline_processor(
    vocab_words: Sequence[str],
    *,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    chat_template: str | None = None,
) -> EPQwen2VLProcessor:
    """Processor for tiny models trained here: Qwen2-VL image preprocessing (patch 14, merge 2,
    CLIP mean/std; PIL backend so torchvision is not needed) plus a word-level tokenizer over
    ``vocab_words`` (any texts: they are split into words) and the prompt's own words.

    Without ``chat_template`` (the demo model) prompts use the plain format; with one (e.g.
    `QWEN_STYLE_CHAT_TEMPLATE`) they go through the chat path real Instruct checkpoints take."""
    if min_pixels <= 0 or max_pixels < min_pixels:
        raise ParameterError(
            f"pixel budget min_pixels={min_pixels}, max_pixels={max_pixels} is invalid; "
            "expected 0 < min_pixels <= max_pixels"
        )
    return EPQwen2VLProcessor(
        image_processor=_image_processor(min_pixels, max_pixels),
        tokenizer=build_offline_tokenizer(vocab_words, chat_template=chat_template),
        chat_template=chat_template,
    )


# the tokenizer files a checkpoint may hold, in the order a message lists those it has
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")


def load_processor(model_dir: str | Path) -> EPQwen2VLProcessor:
    """Load the processor saved beside a model (a tiny model of ours or a real Qwen2-VL dir)."""
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    check_checkpoint_folder(model_dir)
    has_processor = (model_dir / "preprocessor_config.json").is_file() or (
        model_dir / "processor_config.json"
    ).is_file()
    if not has_processor:
        raise ModelDirError(
            f"model directory {str(model_dir)!r} has no preprocessor_config.json or "
            "processor_config.json; expected a Qwen2-VL checkpoint saved with its processor"
        )
    if not (model_dir / "tokenizer.json").is_file() and not all(
        (model_dir / name).is_file() for name in ("vocab.json", "merges.txt")
    ):
        # tokenizer_config.json alone only names the class: transformers built a Qwen2Tokenizer
        # with no vocabulary from it ('hello' encoded to []), and config.json's image_token_id
        # was then called unknown in the tokenizer
        present = [n for n in TOKENIZER_FILES if (model_dir / n).is_file()]
        raise ModelDirError(
            f"model directory {str(model_dir)!r} has no tokenizer ("
            + (f"only {' + '.join(present)}" if present else "no tokenizer files")
            + "); expected tokenizer.json, or vocab.json and merges.txt, beside "
            "tokenizer_config.json, as a Qwen2-VL checkpoint is saved with its processor"
        )
    _check_image_processor_type(model_dir)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torchvision.*")
            proc = EPQwen2VLProcessor.from_pretrained(str(model_dir))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelDirError(
            f"cannot load the processor (image processor + tokenizer) of {str(model_dir)!r}: "
            + (_damaged_json(model_dir) or first)
        ) from None
    _settle_pixel_budget(model_dir, proc.image_processor)
    _check_added_tokens(model_dir, proc)
    proc.tokenizer.padding_side = "left"
    if proc.tokenizer.pad_token_id is None:
        proc.tokenizer.pad_token = PAD_TOKEN
    if (model_dir / "config.json").is_file():
        check_token_ids(model_dir / "config.json", proc)
    return proc


# the image processor's name in Qwen2.5-VL checkpoints saved before transformers 4.49 renamed it
# to Qwen2-VL's (the Hub's copies were updated, older downloads and fine-tunes kept it)
_LEGACY_IMAGE_PROCESSOR_TYPES = ("Qwen2_5_VLImageProcessor", "Qwen2_5_VLImageProcessorFast")


def _image_processor_config(model_dir: Path) -> tuple[Path, dict[str, Any] | None]:
    """The file transformers builds the image processor from and its settings (None where
    absent or damaged): processor_config.json's nested ``image_processor`` if it has one, else
    preprocessor_config.json. A folder saved anew over an older one can hold both, apart."""
    import json

    def read(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None

    nested = read(model_dir / "processor_config.json")
    if isinstance(nested, dict) and "image_processor" in nested:
        config = nested["image_processor"]
        return model_dir / "processor_config.json", config if isinstance(config, dict) else None
    config = read(model_dir / "preprocessor_config.json")
    return model_dir / "preprocessor_config.json", config if isinstance(config, dict) else None


def _check_image_processor_type(model_dir: Path) -> None:
    """Name the fix for a legacy ``image_processor_type``: transformers' own error for it lists
    every model type it knows and says nothing of the field's value."""
    source, config = _image_processor_config(model_dir)
    name = config.get("image_processor_type") if config is not None else None
    if name in _LEGACY_IMAGE_PROCESSOR_TYPES:
        raise ModelDirError(
            f"{str(source)!r} has image_processor_type {name!r}, "
            "the name Qwen2.5-VL checkpoints carried before transformers 4.49; this transformers "
            "knows that image processor as 'Qwen2VLImageProcessor': set that name there"
        )


def _settle_pixel_budget(model_dir: Path, ip: Any) -> None:
    """Give the image processor the (min_pixels, max_pixels) its resize reads, or refuse the
    folder in one line. Some saves (transformers 4.45-4.48, and fine-tunes made with them) wrote
    ``size`` as {min_pixels, max_pixels} only: transformers 5 loads that but its resize then
    fails on every image, and `grid_for_size` planned keep masks for a default budget."""
    from transformers.image_utils import SizeDict

    size = ip.size
    get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
    shortest, longest = get("shortest_edge"), get("longest_edge")
    if shortest is None and longest is None:
        shortest, longest = get("min_pixels"), get("max_pixels")
        if shortest is not None and longest is not None:
            ip.size = SizeDict(shortest_edge=int(shortest), longest_edge=int(longest))
    if not shortest or not longest or shortest > longest:
        raise ModelDirError(
            f"{str(_image_processor_config(model_dir)[0])!r} gives the image processor the pixel "
            f"budget min_pixels={shortest}, max_pixels={longest} (size {dict(size)!r}); expected "
            "0 < min_pixels <= max_pixels (as min_pixels / max_pixels, or size shortest_edge / "
            "longest_edge)"
        )


def _check_added_tokens(model_dir: Path, proc: EPQwen2VLProcessor) -> None:
    """Fail naming tokenizer_config.json when it is missing and the tokenizer lacks the image
    tokens: Qwen's special tokens are added ones, listed there (and in tokenizer.json), not in
    vocab.json + merges.txt; config.json's token ids were otherwise called unknown."""
    if (model_dir / "tokenizer_config.json").is_file():
        return
    vocab = proc.tokenizer.get_vocab()
    missing = [t for t in (IMAGE_TOKEN, VISION_START, VISION_END) if t not in vocab]
    if missing:
        present = [
            n for n in ("tokenizer.json", "vocab.json", "merges.txt") if (model_dir / n).is_file()
        ]
        raise ModelDirError(
            f"model directory {str(model_dir)!r} has {' + '.join(present)} but no "
            "tokenizer_config.json, which lists Qwen's added special tokens; the tokenizer lacks "
            f"{', '.join(missing)}. Expected the checkpoint's tokenizer_config.json beside them"
        )


# the JSON files transformers reads to build a processor; its errors for a damaged one (a
# copy cut short) often do not say which
PROCESSOR_JSON_FILES = (
    "config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "chat_template.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
)


def _damaged_json(model_dir: Path) -> str | None:
    """Which of `PROCESSOR_JSON_FILES` in ``model_dir`` cannot be read or does not parse, and
    why (None: all parse)."""
    import json

    for name in PROCESSOR_JSON_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        try:
            text = path.read_bytes()
        except PermissionError:
            # not a damaged file: another user's, readable by its owner only
            return (
                f"{name} cannot be read by this user: permission denied; its owner can give "
                "read access (chmod a+r)"
            )
        except OSError as exc:
            return f"{name} cannot be read: {exc.strerror or exc}"
        try:
            json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"{name} is not valid JSON (damaged or cut short?): {exc}"
    return None


# config.json fields that name special tokens, and the token each must be in the tokenizer
CONFIG_TOKEN_FIELDS: dict[str, str] = {
    "image_token_id": IMAGE_TOKEN,
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": VISION_START,
    "vision_end_token_id": VISION_END,
}


def check_token_ids(config_path: str | Path, proc: EPQwen2VLProcessor) -> None:
    """Fail in one line when config.json's image/video/vision token ids are not those tokens
    in the tokenizer (a tokenizer from another checkpoint, or an edited config): the model
    would otherwise find no image placeholders, or the wrong ones, after a slow load."""
    import json

    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"cannot read {str(config_path)!r}: {exc}") from None
    tok = proc.tokenizer
    for field, token in CONFIG_TOKEN_FIELDS.items():
        value = config.get(field)
        if value is None:
            continue
        actual = tok.convert_ids_to_tokens(int(value)) if 0 <= int(value) < len(tok) else None
        if actual != token:
            expected = tok.convert_tokens_to_ids(token)
            raise ModelDirError(
                f"{str(config_path)!r}: {field} = {value} is "
                + (f"{actual!r}" if actual is not None else "unknown")
                + f" in the tokenizer; expected the id of {token} "
                + (f"({expected})" if expected not in (None, tok.unk_token_id) else "(absent)")
            )


def tokens_per_image(proc: EPQwen2VLProcessor, height: int, width: int) -> int:
    """Number of LLM image tokens (merged 2x2 patch groups) the processor makes of an image."""
    grid = grid_for_size(proc, height, width)
    return grid[0] * grid[1]


def min_image_tokens(proc: EPQwen2VLProcessor) -> int:
    """The fewest LLM image tokens the processor makes of an image: its ``min_pixels`` over
    one token's area, rounded up. A grid of at least that many tokens (and no more than the
    ``max_pixels`` allow) comes out of the processor's resize unchanged."""
    ip = proc.image_processor
    factor = ip.patch_size * ip.merge_size
    return max(1, -(-_pixel_budget(ip)[0] // (factor * factor)))


def grid_for_size(proc: EPQwen2VLProcessor, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of the LLM token grid for an image of ``height`` x ``width`` pixels."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    check_image_size(height, width)
    ip = proc.image_processor
    factor = ip.patch_size * ip.merge_size
    min_pixels, max_pixels = _pixel_budget(ip)
    h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return h // factor, w // factor


# Qwen2-VL's resize (smart_resize) refuses images whose longer side is more than this many
# times the shorter one, with a bare ValueError
MAX_ASPECT_RATIO = 200


def check_image_size(height: int, width: int) -> None:
    """Refuse in one line an image the Qwen2-VL image processor cannot take: an empty one, or
    one whose sides differ by more than `MAX_ASPECT_RATIO` times."""
    if height < 1 or width < 1:
        raise ParameterError(f"image of {width}x{height} px (W x H) is empty")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise ParameterError(
            f"image of {width}x{height} px (W x H) has an aspect ratio of {ratio:g}:1; "
            f"Qwen2-VL's image processor takes at most {MAX_ASPECT_RATIO}:1 (crop or pad it)"
        )


def _pixel_budget(ip) -> tuple[int, int]:
    """(min_pixels, max_pixels) the image processor's resize uses: its ``size`` edges, which it
    refuses to resize without (so no default here could match what it does)."""
    size = ip.size
    shortest = getattr(size, "shortest_edge", None)
    longest = getattr(size, "longest_edge", None)
    if isinstance(size, dict):
        shortest, longest = size.get("shortest_edge"), size.get("longest_edge")
    if not shortest or not longest:
        raise ParameterError(
            f"the image processor's size {size!r} has no shortest_edge / longest_edge (its "
            "min_pixels / max_pixels); expected both"
        )
    return int(shortest), int(longest)


def build_prompt(question: str, choices: Sequence[str], n_image_tokens: int) -> str:
    """The one prompt format of training and evaluation (Qwen2-VL chat layout, question first).

    The question comes before the image so the image tokens can attend to it: small models
    trained from scratch learn the task faster that way, and real Qwen2-VL handles either order.
    """
    if n_image_tokens < 1:
        raise KeepMaskError(f"an image needs at least one kept token, got {n_image_tokens}")
    choices = _options(choices)
    options = f"\nOptions: {', '.join(choices)}" if choices else ""
    return (
        f"{IM_START}user\n{question}{options}\n"
        f"{VISION_START}{IMAGE_TOKEN * n_image_tokens}{VISION_END}{IM_END}\n"
        f"{IM_START}assistant\n"
    )


def chat_template_of(proc: EPQwen2VLProcessor) -> str | None:
    """The checkpoint's chat template (processor's first, then the tokenizer's), or None."""
    template = getattr(proc, "chat_template", None) or getattr(
        proc.tokenizer, "chat_template", None
    )
    if isinstance(template, dict):
        template = template.get("default")
    return template or None


def prompt_format(proc: EPQwen2VLProcessor, requested: str = "auto") -> str:
    """``chat`` when the checkpoint has a chat template, else ``plain`` (or the requested one)."""
    if requested == "auto":
        return "chat" if chat_template_of(proc) is not None else "plain"
    if requested not in PROMPT_FORMATS:
        raise ParameterError(
            f"prompt format {requested!r} is unknown; expected auto or one of {PROMPT_FORMATS}"
        )
    if requested == "chat" and chat_template_of(proc) is None:
        raise ParameterError(
            "prompt format 'chat' needs a chat template, but the checkpoint's processor and "
            "tokenizer have none; use 'plain'"
        )
    return requested


def question_text(question: str, choices: Sequence[str]) -> str:
    """The user text of a chat prompt: the question, then lettered options and the
    instruction to answer with a letter (a question that already lists its options, as
    RealWorldQA's do, is used as it stands)."""
    from epvlm.answers import MC_INSTRUCTION, format_options

    choices = _options(choices)
    if not choices:
        return question
    return f"{question}\n{format_options(choices)}\n{MC_INSTRUCTION}"


def build_chat_prompt(
    proc: EPQwen2VLProcessor,
    question: str,
    choices: Sequence[str],
    n_image_tokens: int,
    *,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
) -> str:
    """The checkpoint's chat template over a system turn and a user turn (image, then text),
    with the one image placeholder expanded to ``n_image_tokens`` pad tokens."""
    if n_image_tokens < 1:
        raise KeepMaskError(f"an image needs at least one kept token, got {n_image_tokens}")
    template = chat_template_of(proc)
    if template is None:
        raise ParameterError("the checkpoint has no chat template; use the plain prompt format")
    messages = [
        {"role": "system", "content": [{"type": "text", "text": system_prompt}]},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": question_text(question, choices)},
            ],
        },
    ]
    text = proc.tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    if text.count(IMAGE_TOKEN) != 1:
        raise ModelDirError(
            f"the checkpoint's chat template renders {text.count(IMAGE_TOKEN)} {IMAGE_TOKEN} "
            "placeholders for one image; expected exactly one"
        )
    return text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image_tokens)


def _options(choices: Sequence[str], index: int | None = None) -> list[str]:
    """A sample's choices as a list of options; a single string is refused (it was taken as
    one option per character: "red,green" asked r, e, d, ...), and so is None (a bare
    TypeError; `epvlm.evaluate` refuses it too: an open question's list is empty)."""
    which = "choices" if index is None else f"choices {index}"
    if not isinstance(choices, Iterable):
        raise ParameterError(
            f"{which} {choices!r} is not a list of options; expected one (an empty list for none)"
        )
    if isinstance(choices, (str, bytes)):
        # str() of bytes is their repr ("b'red"): the example splits the text
        text = choices.decode(errors="replace") if isinstance(choices, bytes) else choices
        raise ParameterError(
            f"{which} {choices!r} is one string; expected a list of options, e.g. "
            f"{[c.strip() for c in text.split(',')]!r} (an empty list for none)"
        )
    return list(choices)


def answer_text(answer: str) -> str:
    """The target the model is trained to generate after the prompt."""
    return f"{answer}{IM_END}"


def _as_rgb(image: Any) -> np.ndarray:
    arr = check_image(image, grey=False)
    check_image_size(arr.shape[0], arr.shape[1])
    return arr


def _check_mask(mask: Any, grid: tuple[int, int], index: int) -> np.ndarray:
    """Keep mask ``index`` flat, checked against its image's (rows, cols) token ``grid``."""
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise KeepMaskError(f"keep mask {index} must be boolean, got dtype {arr.dtype}")
    _check_mask_shape(arr.shape, grid, f"keep mask {index}", index)
    n_tokens = grid[0] * grid[1]
    arr = arr.reshape(-1)
    if arr.size != n_tokens:
        raise KeepMaskError(
            f"keep mask {index} has {arr.size} entries but image {index} has {n_tokens} "
            "LLM image tokens (one entry per merged 2x2 patch group, row-major)"
        )
    if not arr.any():
        raise KeepMaskError(f"keep mask {index} keeps no token; keep at least one")
    return arr


def encode_batch(
    proc: EPQwen2VLProcessor,
    images: Sequence[np.ndarray],
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    keep_masks: Sequence[np.ndarray | None] | None = None,
    answers: Sequence[str] | None = None,
    *,
    prompt: str = "auto",
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
) -> dict[str, torch.Tensor]:
    """Encode one image + question per sample into a left-padded batch.

    ``keep_masks[i]`` is a boolean array with one entry per LLM image token of image ``i``
    (shape (rows, cols) of `grid_for_size` or flat, row-major); None keeps all. The prompt of
    sample ``i`` carries exactly ``keep_masks[i].sum()`` image tokens, so samples with different
    kept counts pad to the longest. Returns ``input_ids``, ``attention_mask``, ``pixel_values``
    (all dense patch rows; the model drops the unkept ones), ``image_grid_thw`` (dense grid),
    ``mm_token_type_ids``, ``image_keep_mask`` (flat bool over all images' tokens, in batch
    order) and, when ``answers`` are given, the answer tokens appended plus ``labels`` (the
    answer and its ``<|im_end|>``; -100 elsewhere). ``prompt`` picks the prompt format
    (`prompt_format`: auto, chat or plain).
    """
    n = len(images)
    if not (len(questions) == len(choices) == n) or n == 0:
        raise ParameterError(
            f"need one question and one choice list per image, got {n} images, "
            f"{len(questions)} questions, {len(choices)} choice lists"
        )
    if keep_masks is not None and len(keep_masks) != n:
        raise KeepMaskError(f"got {len(keep_masks)} keep masks for {n} images")
    if answers is not None and len(answers) != n:
        raise ParameterError(f"got {len(answers)} answers for {n} images")
    empty = [i for i, q in enumerate(questions) if not str(q).strip()]
    if empty:
        raise ParameterError(f"question {empty[0]} is empty; every sample needs a question")
    options = [_options(c, i) for i, c in enumerate(choices)]
    fmt = prompt_format(proc, prompt)
    rgb = [_as_rgb(im) for im in images]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torchvision.*")
        # said, not guessed: an image 1 or 3 px high would be read as channels-first
        vision = proc.image_processor(
            images=rgb, return_tensors="pt", input_data_format="channels_last"
        )
    grid_thw = vision["image_grid_thw"]
    merge = proc.image_processor.merge_size
    # images have one temporal patch: the token grid is (h, w) over merge
    grids = [(int(h) // merge, int(w) // merge) for _, h, w in grid_thw.tolist()]

    masks: list[np.ndarray] = []
    for i in range(n):
        mask = None if keep_masks is None else keep_masks[i]
        masks.append(
            np.ones(grids[i][0] * grids[i][1], dtype=bool)
            if mask is None
            else _check_mask(mask, grids[i], i)
        )

    tok = proc.tokenizer
    image_token_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    sequences: list[list[int]] = []
    label_seqs: list[list[int]] = []
    for i in range(n):
        n_kept = int(masks[i].sum())
        text = (
            build_chat_prompt(proc, questions[i], options[i], n_kept, system_prompt=system_prompt)
            if fmt == "chat"
            else build_prompt(questions[i], options[i], n_kept)
        )
        ids = tok(text, add_special_tokens=False)["input_ids"]
        labels = [-100] * len(ids)
        if answers is not None:
            target = tok(answer_text(answers[i]), add_special_tokens=False)["input_ids"]
            ids = ids + target
            labels = labels + target
        sequences.append(ids)
        label_seqs.append(labels)

    length = max(len(s) for s in sequences)
    pad_id = tok.pad_token_id
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, length), dtype=torch.long)
    labels_t = torch.full((n, length), -100, dtype=torch.long)
    for i, (ids, labels) in enumerate(zip(sequences, label_seqs)):
        start = length - len(ids)
        input_ids[i, start:] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, start:] = 1
        labels_t[i, start:] = torch.tensor(labels, dtype=torch.long)
    mm_token_type_ids = (input_ids == image_token_id).to(torch.int32)

    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": vision["pixel_values"],
        "image_grid_thw": grid_thw,
        "mm_token_type_ids": mm_token_type_ids,
        "image_keep_mask": torch.from_numpy(np.concatenate(masks)),
    }
    if answers is not None:
        batch["labels"] = labels_t
    return batch


def decode_answers(
    proc: EPQwen2VLProcessor, generated: torch.Tensor, prompt_length: int
) -> list[str]:
    """Text of the tokens ``generate()`` appended after a left-padded prompt batch."""
    new_tokens = generated[:, prompt_length:]
    texts = proc.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [t.strip() for t in texts]
