"""Second look at review 6 of epvlm: the score intervals that replace the paired bootstrap on
few questions answered differently (checked against the published examples, an independent
computation and every small table), the switch rule against the claim rule, `fmt_keep`, and
the sparse model's decoding with the cache (rope_deltas) for prompts that end with text or
with the image, batch 2 with different keeps, Qwen2-VL and Qwen2.5-VL."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from demo_answers import demo_samples

from epvlm.results import (
    BOOTSTRAP_MIN_DIFFERING,
    CLAIM_ALPHA,
    SCORE_MARK,
    accuracy_table,
    aggregate,
    find_row,
    fmt_keep,
    mcnemar_exact_p,
    paired_difference_interval,
    paired_interval_method,
    paired_intervals,
    paired_ratio_interval,
)


def _tables(n: int):
    """Every paired 2x2 table of n questions: (both, this only, other only, neither)."""
    for both in range(n + 1):
        for this_only in range(n + 1 - both):
            for other_only in range(n + 1 - both - this_only):
                yield both, this_only, other_only, n - both - this_only - other_only


# ------------------------------------------------------------ 1: the score intervals themselves


def _bisect(f, lo: float, hi: float) -> float:
    """The root of ``f`` between ``lo`` and ``hi``, where its sign changes."""
    sign = f(lo) > 0
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) > 0) == sign:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _wilson_by_root(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson limits as the roots of the score equation (p - pi)^2 = z^2 pi (1 - pi) / n,
    found by bisection: a route independent of the closed form in `wilson_interval`."""
    p = k / n

    def score(pi: float) -> float:
        return (p - pi) ** 2 - z * z * pi * (1 - pi) / n

    # the score is negative just inside p; at p = 0 or 1 p itself is a root, not a limit
    inner = min(max(p, 1e-12), 1 - 1e-12)
    lo = 0.0 if k == 0 else _bisect(score, 0.0, inner)
    hi = 1.0 if k == n else _bisect(score, inner, 1.0)
    return lo, hi


def _newcombe(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Newcombe (1998) method 10 as the paper states it, table cells a..d, margins e..h."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l2, u2 = _wilson_by_root(a + b, n)
    l3, u3 = _wilson_by_root(a + c, n)
    e, f, g, h = a + b, c + d, a + c, b + d
    if 0 in (e, f, g, h):
        phi = 0.0
    else:
        cross = a * d - b * c
        corrected = cross - n / 2 if cross > n / 2 else (0.0 if cross >= 0 else cross)
        phi = corrected / math.sqrt(e * f * g * h)
    delta = math.sqrt((p1 - l2) ** 2 - 2 * phi * (p1 - l2) * (u3 - p2) + (u3 - p2) ** 2)
    eps = math.sqrt((u2 - p1) ** 2 - 2 * phi * (u2 - p1) * (p2 - l3) + (p2 - l3) ** 2)
    return max(-1.0, p1 - p2 - delta), min(1.0, p1 - p2 + eps)


def _bonett_price(a: int, b: int, c: int) -> tuple[float, float]:
    """Bonett and Price (2006), hybrid Wilson score interval for (a + b) / (a + c): Wilson
    intervals on n* = a + b + c with the critical value scaled by their equation for z*."""
    ns = a + b + c
    n1, n2 = a + b, a + c
    q1, q2 = (n1 + 1) / (ns + 2), (n2 + 1) / (ns + 2)
    # 1.96 as every interval of epvlm.results (the 97.5 % quantile is 1.95996...)
    z = 1.96 * math.sqrt((b + c + 2) / ((n1 + 1) * (n2 + 1)))
    z /= math.sqrt((1 - q1) / (n1 + 1)) + math.sqrt((1 - q2) / (n2 + 1))
    l1, u1 = _wilson_by_root(n1, ns, z)
    l2, u2 = _wilson_by_root(n2, ns, z)
    return l1 / u2, u1 / l2


def test_the_score_intervals_match_the_papers_formulas_on_every_small_table():
    """Every table of up to 7 questions, the edge cases with them: none or every question
    answered differently, n = 1 and 2, an accuracy of 0 or 1 on either side."""
    for n in range(1, 8):
        for a, b, c, d in _tables(n):
            got = paired_difference_interval(a, b, c, d)
            assert got == pytest.approx(_newcombe(a, b, c, d), abs=1e-6), (a, b, c, d)
            if a + c:
                got = paired_ratio_interval(a, b, c)
                assert got == pytest.approx(_bonett_price(a, b, c), rel=1e-6, abs=1e-9)


def test_the_published_examples():
    # Fagerland, Lydersen and Laake, Statistical Analysis of Contingency Tables (2017), ch. 8
    # (and their R package contingencytables): Cavo et al. 2012, 59 / 6 / 16 / 80
    assert paired_difference_interval(59, 6, 16, 80) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert paired_ratio_interval(59, 6, 16) == pytest.approx((0.7579, 0.9910), abs=5e-5)


def test_a_score_interval_holds_its_estimate_and_is_never_a_point():
    for n in range(1, 13):
        for a, b, c, d in _tables(n):
            lo, hi = paired_difference_interval(a, b, c, d)
            assert -1 <= lo <= (b - c) / n <= hi <= 1 and lo < hi
            if a + c:
                lo, hi = paired_ratio_interval(a, b, c)
                assert 0 <= lo <= (a + b) / (a + c) <= hi and lo < hi


# --------------------------------------------------- 2: the switch rule and the claim rule


def test_the_switch_is_where_the_exact_test_can_first_pass_and_the_findings_agree():
    """Below 6 questions answered differently no outcome passes the exact test, so no claim
    can come from those (score) intervals; `_few_differ` uses the same count."""
    from epvlm.demo.analysis import _few_differ, _judged

    for m in range(0, 20):
        assert _few_differ(m, 0) == (m < BOOTSTRAP_MIN_DIFFERING)
    for n in range(1, 11):
        for both, this_only, other_only, neither in _tables(n):
            counts = {"this_only": this_only, "other_only": other_only}
            ci = paired_difference_interval(both, this_only, other_only, neither)
            side = _judged(ci, counts, "this_only", "other_only")
            p = mcnemar_exact_p(this_only, other_only)
            if side in ("above", "below"):
                assert p < CLAIM_ALPHA
                assert (this_only > other_only) == (side == "above")
            if this_only + other_only < BOOTSTRAP_MIN_DIFFERING:
                assert side not in ("above", "below")
                assert paired_interval_method(this_only, other_only, n) == "score"


def test_a_share_of_dense_with_no_answer_right_is_no_certain_point():
    """`event` right on none of 40 questions, dense on 10: more than 6 answered differently,
    not every one, so the share went to the bootstrap, whose every resample gives 0: the
    tables printed "0.0 % (0.0–0.0 %)" of dense, a falsely certain point."""
    rows = aggregate(
        [
            {
                "id": str(i),
                "selector": sel,
                "keep": keep,
                "correct": ok,
                "flops": 1.0,
                "latency_s": 0.01,
                "kept_tokens": 1,
                "total_tokens": 2,
                "question_type": "color",
            }
            for sel, keep, right in (("dense", 1.0, 10), ("event", 0.5, 0))
            for i, ok in enumerate([True] * right + [False] * (40 - right))
        ]
    )
    event = find_row(rows, "event", 0.5)
    assert event["vs_dense_counts"] == {"both": 0, "this_only": 0, "dense_only": 10, "neither": 30}
    lo, hi = event["accuracy_vs_dense_ci95"]
    assert lo == 0.0 < 0.2 < hi
    assert (lo, hi) == pytest.approx(paired_ratio_interval(0, 0, 10))
    # the difference keeps its bootstrap interval: its resamples vary
    assert paired_interval_method(0, 10, 40) == "bootstrap"
    assert paired_interval_method(0, 10, 40, right=0) == "score"
    table = accuracy_table(rows)
    assert "0.0–0.0 %" not in table
    assert (
        f"| event | 0.5 | 40 | 0.0 % (0.0–8.8 %) | 0.0 % (0.0–{100 * hi:.1f} %){SCORE_MARK} |"
        in (table)
    )


def test_paired_intervals_names_each_intervals_method():
    a = np.zeros(40, bool)
    b = np.zeros(40, bool)
    b[:10] = True
    out = paired_intervals(a, b, seed=1)
    assert (out["method"], out["ratio_method"]) == ("bootstrap", "score")
    assert out["ratio"] == paired_ratio_interval(0, 0, 10)
    assert out["diff"][0] < out["diff"][1] < 0


def test_the_findings_print_and_name_the_score_interval_of_a_share_of_none():
    from epvlm.demo.analysis import findings, summarize

    answers = [1] * 12 + [0] * 18
    samples = demo_samples(
        {("dense", 1.0): {"moving": answers}, ("event", 0.5): {"moving": [0] * 30}}
    )
    summary = summarize(samples)
    (line,) = [f for f in findings(summary) if "moving-target" in f]
    assert "95 % CI 0.0–0.0 %" not in line
    cell = find_row(summary["rows"], "event", 0.5)["groups"]["target_motion"]["moving"]
    assert cell["accuracy_vs_dense_ci95"][1] > 0


# ------------------------------------------------------------------------- 3: fmt_keep


def test_a_keep_below_one_never_prints_as_dense():
    """3 significant digits printed 0.9996 as "1", dense's keep, wherever a keep is printed
    alone (epvlm run, the preview strip) or among keeps without 1 (the coverage table,
    table.md of a run without dense)."""
    assert fmt_keep(0.9996) == "0.9996"
    assert fmt_keep(0.9995, [0.5, 0.9995]) == "0.9995"
    assert fmt_keep(0.99949) == "0.999"
    assert fmt_keep(1.0) == "1"
    # the usual keeps are unchanged
    assert [fmt_keep(k) for k in (1.0, 0.75, 0.5, 0.25, 0.125, 1 / 3)] == [
        "1",
        "0.75",
        "0.5",
        "0.25",
        "0.125",
        "0.333",
    ]


def test_keep_labels_are_distinct_and_do_not_depend_on_order():
    rng = random.Random(0)
    pool = [1.0, 0.75, 0.5, 1 / 3, 0.333, 0.3333, 0.33, 0.25, 0.125, 0.9996, 0.1 + 0.2, 0.3]
    for _ in range(200):
        keeps = rng.sample(pool, rng.randint(1, len(pool)))
        labels = [fmt_keep(k, keeps) for k in keeps]
        assert len(set(labels)) == len(set(keeps))
        shuffled = rng.sample(keeps, len(keeps))
        assert labels == [fmt_keep(k, shuffled) for k in keeps]
        assert all(float(label) != 1.0 for k, label in zip(keeps, labels) if k != 1.0)


def test_the_coverage_table_labels_a_keep_as_the_report_tables_do():
    from epvlm.demo.analysis import coverage_table

    coverage = {
        "n_questions": 1,
        "rows": [
            {
                "selector": "event",
                "keep": k,
                "target_motion": "moving",
                "n": 1,
                "mean_share_kept": 0.5,
                "mostly_dropped": 0.0,
            }
            for k in (0.9996, 0.5)
        ],
    }
    assert "| event | 0.9996 |" in coverage_table(coverage)


# ------------------------------------------------- 4: the sparse model's decoding positions

# (conftest's rope_proc and rope_models import torch and transformers only when asked for, so
# the tests above run without them)


def _images() -> list[np.ndarray]:
    # 3x5 tokens (the width holds the largest id) and 5x3 (the height does)
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in ((84, 140), (140, 84))]


def _keeps(same_count: bool) -> list[np.ndarray]:
    """Image 0 drops its last column (which holds the largest id); image 1 keeps a scattered
    11 of 15 (as many as image 0) or drops its last row and one more (different counts)."""
    m0 = np.ones((3, 5), dtype=bool)
    m0[:, 4] = False
    m0[0, 1] = False
    m1 = np.zeros(15, dtype=bool)
    if same_count:
        m1[[0, 2, 4, 5, 6, 7, 8, 9, 10, 11, 13]] = True
    else:
        m1[:12] = True
        m1[6] = False
    return [m0, m1.reshape(5, 3)]


def _end_with_image(batch: dict, pad: int) -> dict:
    """``batch`` cut after each prompt's last image token, left-padded again."""
    import torch

    rows = []
    for b in range(batch["input_ids"].shape[0]):
        real = batch["attention_mask"][b].bool()
        ids, types = batch["input_ids"][b][real], batch["mm_token_type_ids"][b][real]
        end = int(torch.nonzero(types).max()) + 1
        rows.append((ids[:end], types[:end]))
    width = max(len(ids) for ids, _ in rows)
    out = {
        "input_ids": torch.full((len(rows), width), pad),
        "mm_token_type_ids": torch.zeros(len(rows), width, dtype=batch["mm_token_type_ids"].dtype),
        "attention_mask": torch.zeros(len(rows), width, dtype=batch["attention_mask"].dtype),
    }
    for b, (ids, types) in enumerate(rows):
        out["input_ids"][b, width - len(ids) :] = ids
        out["mm_token_type_ids"][b, width - len(ids) :] = types
        out["attention_mask"][b, width - len(ids) :] = 1
    return {**batch, **out}


def _batches(proc, end: str, same_count: bool) -> tuple[dict, dict]:
    """(sparse, dense) batches of the same two prompts; the same question where the kept
    counts are the same, so neither is padded."""
    from epvlm.processing import encode_batch

    images = _images()
    questions = ["What colour is the object?", "Where is it?"]
    choices = [["red", "blue", "green"], []]
    if same_count:
        questions, choices = questions[:1] * 2, choices[:1] * 2
    sparse = encode_batch(proc, images, questions, choices, keep_masks=_keeps(same_count))
    dense = encode_batch(proc, images, questions, choices)
    dense.pop("image_keep_mask")
    if end == "image":
        pad = proc.tokenizer.pad_token_id
        sparse, dense = _end_with_image(sparse, pad), _end_with_image(dense, pad)
    return sparse, dense


def _language_positions(model):
    seen: list = []
    handle = model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["position_ids"][-3:].clone()),
        with_kwargs=True,
    )
    return seen, handle


def _decode(model, batch: dict, steps: int = 3):
    """Prefill, then ``steps`` fixed tokens decoded one at a time with the cache (positions
    from ``rope_deltas``), then the whole sequence again without the cache (positions from
    the prompt's token types). Returns the decoded tokens' positions both ways and the
    logits of every step both ways."""
    import torch

    extra = {k: batch[k] for k in ("image_grid_thw", "image_keep_mask") if k in batch}
    ids, types = batch["input_ids"], batch["mm_token_type_ids"]
    assert bool(batch["attention_mask"].all())  # stock decoding by rope_deltas needs no padding
    seen, handle = _language_positions(model)
    logits = []
    try:
        with torch.no_grad():
            out = model(
                input_ids=ids,
                mm_token_type_ids=types,
                pixel_values=batch["pixel_values"],
                use_cache=True,
                **extra,
            )
            logits.append(out.logits[:, -1])
            for step in range(steps):
                token = torch.tensor([[5 + step], [9 + step]])
                ids = torch.cat([ids, token], 1)
                types = torch.cat([types, torch.zeros_like(token, dtype=types.dtype)], 1)
                out = model(
                    input_ids=token,
                    mm_token_type_ids=types[:, -1:],
                    past_key_values=out.past_key_values,
                    use_cache=True,
                    **extra,
                )
                logits.append(out.logits[:, -1])
            model.model.rope_deltas = None
            whole = model(
                input_ids=ids,
                mm_token_type_ids=types,
                pixel_values=batch["pixel_values"],
                use_cache=False,
                **extra,
            )
    finally:
        handle.remove()
        model.model.rope_deltas = None
    cached = torch.stack([p[:, :, -1] for p in seen[1 : 1 + steps]], -1)
    return cached, seen[-1][:, :, -steps:], torch.stack(logits, 1), whole.logits[:, -steps - 1 :]


@pytest.mark.parametrize("end", ["text", "image"])
def test_decoding_with_the_cache_equals_decoding_without_it_and_dense(rope_proc, rope_models, end):
    """Batch 2, different keeps (image 0's dropped last column held its largest id): the
    tokens decoded with the cache sit where the whole sequence puts them without it and
    where dense Qwen2-VL / Qwen2.5-VL puts them, and get the same logits."""
    import torch

    model, stock = rope_models
    sparse, dense = _batches(rope_proc, end, same_count=True)
    cached, uncached, cached_logits, whole_logits = _decode(model, sparse)
    dense_cached, dense_uncached, _, _ = _decode(stock, dense)
    assert torch.equal(dense_cached, dense_uncached)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, dense_cached)
    torch.testing.assert_close(cached_logits, whole_logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("end", ["text", "image"])
def test_generate_with_the_cache_equals_generate_without_it(rope_proc, rope_models, end):
    """Batch 2 with different kept counts (left padding); the prompts end with text, as the
    processor writes them, or with the image. Text endings also decode at dense positions."""
    import torch

    model, stock = rope_models
    sparse, dense = _batches(rope_proc, end, same_count=False)
    assert not bool(sparse["attention_mask"].all())
    tok = rope_proc.tokenizer
    # a random model may pick an image token, which a prompt without the cache would re-read
    kwargs = dict(
        max_new_tokens=3,
        min_new_tokens=3,
        do_sample=False,
        suppress_tokens=tok.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"]),
    )
    with torch.no_grad():
        cached = model.generate(**sparse, **kwargs)
        assert torch.equal(cached, model.generate(**sparse, use_cache=False, **kwargs))
        if end == "text":
            positions = []
            for m, batch in ((model, sparse), (stock, dense)):
                seen, handle = _language_positions(m)
                try:
                    m.generate(**batch, **kwargs)
                finally:
                    handle.remove()
                positions.append([p[:, :, -1].tolist() for p in seen[1:]])
            assert positions[0] == positions[1]


def test_rope_deltas_of_prompts_ending_with_text_are_as_before(rope_proc, rope_models):
    """The dense sequence's largest id only matters where the prompt ends with the image:
    with text after it, the delta is the kept positions' largest + 1 less the prompt's length,
    as before, and the positions are the dense ones of the kept tokens."""
    import torch

    model, stock = rope_models
    sparse, dense = _batches(rope_proc, "text", same_count=False)
    keep_rows = [torch.as_tensor(m).reshape(-1) for m in _keeps(same_count=False)]
    positions, deltas = model.model.get_rope_index(
        sparse["input_ids"],
        sparse["mm_token_type_ids"],
        image_grid_thw=sparse["image_grid_thw"],
        attention_mask=sparse["attention_mask"],
        image_keep_mask=sparse["image_keep_mask"],
    )
    dense_positions, dense_deltas = stock.model.get_rope_index(
        dense["input_ids"],
        dense["mm_token_type_ids"],
        image_grid_thw=dense["image_grid_thw"],
        attention_mask=dense["attention_mask"],
    )
    for b, keep in enumerate(keep_rows):
        real = sparse["attention_mask"][b].bool()
        mine = positions[:, b, real]
        assert int(deltas[b]) == int(mine.max()) + 1 - int(real.sum())
        dense_real = dense["attention_mask"][b].bool()
        theirs = dense_positions[:, b, dense_real]
        image = dense["mm_token_type_ids"][b][dense_real] == 1
        kept = torch.ones(int(dense_real.sum()), dtype=torch.bool)
        kept[image] = keep
        assert torch.equal(mine, theirs[:, kept])
        # the next token sits where dense puts it
        assert int(real.sum()) + int(deltas[b]) == int(dense_real.sum()) + int(dense_deltas[b])
