"""`epvlm eval` computes each sample's event prior (and edges) block scores once, not once per
keep fraction, and answers exactly as when every selection computed its own, resumed or not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from epvlm.prior import edge_block_scores, event_block_scores, select_blocks
from eventsim.errors import ParameterError
from eventsim.events import EVENT_DTYPE

N_SAMPLES = 3
BATCH = 2  # two batches: 2 + 1, so a batch's scores must not reach the next
KEEPS = (0.75, 0.5, 0.25)
# the evaluations' keeps: two show the scores reused; fewer configurations keep the runs short
EVAL_KEEPS = (0.75, 0.25)
# event and edges score; random is a matched baseline under quantile (event's counts, no scores)
EVAL_SELECTORS = ("event", "edges", "random")
GRID = (4, 4)


def _events(n: int, seed: int = 0, size: int = 112) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, size, n)
    ev["y"] = rng.integers(0, size, n)
    ev["t"] = np.sort(rng.integers(0, 10_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


@pytest.mark.parametrize("rule", ["topk", "quantile"])
@pytest.mark.parametrize("mode", ["count", "signed"])
@pytest.mark.parametrize("n_events", [0, 1, 500])
def test_scores_given_beforehand_select_what_select_blocks_computes(rule, mode, n_events):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    events = _events(n_events)
    window = (0, 8_000)
    mass = event_block_scores(events, (112, 112), GRID, window_us=window, mode=mode)
    edges = edge_block_scores(image, GRID)
    for keep in (*KEEPS, 1.0, 0.01):
        for selector, scores in (("event", mass), ("edges", edges)):
            kwargs = dict(keep=keep, grid=GRID, events=events, window_us=window, rule=rule)
            own = select_blocks(selector, image, mode=mode, **kwargs)
            given = select_blocks(selector, image, mode=mode, scores=scores, **kwargs)
            np.testing.assert_array_equal(given.mask, own.mask)
            np.testing.assert_array_equal(given.scores, own.scores)
            assert (given.fallback, given.fallback_reason) == (own.fallback, own.fallback_reason)


def test_scores_of_another_grid_are_refused():
    image = np.zeros((112, 112, 3), np.uint8)
    with pytest.raises(ParameterError, match=r"shape \(2, 2\) do not match the 4x4 token grid"):
        select_blocks(
            "event", image, keep=0.5, grid=GRID, events=_events(10), scores=np.ones((2, 2))
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return eval_setup(tmp_path_factory.mktemp("epvlm-review8-scores"), N_SAMPLES)


def _evaluate(built, out, **kwargs):
    from epvlm.evaluate import evaluate_dataset

    _, ds_dir, model_dir, _ = built
    return evaluate_dataset(
        model_dir,
        ds_dir,
        selectors=EVAL_SELECTORS,
        keeps=EVAL_KEEPS,
        batch_size=BATCH,
        progress=False,
        out_dir=out,
        **kwargs,
    )


def _without_latency(value):
    # the one field measured, not computed: wall time differs between any two runs
    if isinstance(value, dict):
        return {k: _without_latency(v) for k, v in value.items() if k != "latency_s"}
    if isinstance(value, list):
        return [_without_latency(v) for v in value]
    return value


def _outputs(out):
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    lines = (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return _without_latency(rows), _without_latency([json.loads(line) for line in lines])


def _count_scoring(monkeypatch) -> dict[str, int]:
    """Counts the event maps (`_sensor_map`) and edge maps made from here on."""
    import epvlm.prior

    calls = {"mass": 0, "edges": 0}
    sensor_map, edge_map = epvlm.prior._sensor_map, epvlm.prior.edge_map

    def counted_mass(*args, **kwargs):
        calls["mass"] += 1
        return sensor_map(*args, **kwargs)

    def counted_edges(*args, **kwargs):
        calls["edges"] += 1
        return edge_map(*args, **kwargs)

    monkeypatch.setattr(epvlm.prior, "_sensor_map", counted_mass)
    monkeypatch.setattr(epvlm.prior, "edge_map", counted_edges)
    return calls


def _interrupted_after(built, out, monkeypatch, steps: int, **kwargs) -> None:
    """Runs the evaluation into ``out`` until a Ctrl-C after ``steps`` batch x configuration
    steps, which it keeps there to resume."""
    import epvlm.evaluate
    from epvlm.evaluate import EvalInterrupted

    answer = epvlm.evaluate.answer_selections
    left = [steps]

    def stop_after(*args, **kw):
        if left[0] == 0:
            raise KeyboardInterrupt
        left[0] -= 1
        return answer(*args, **kw)

    monkeypatch.setattr(epvlm.evaluate, "answer_selections", stop_after)
    with pytest.raises(EvalInterrupted):
        _evaluate(built, out, **kwargs)
    monkeypatch.undo()


# one evaluation per setting serves every check of it: each is a few seconds of a tiny model
@pytest.mark.parametrize("rule, mode", [("topk", "count"), ("quantile", "signed")])
def test_eval_scores_each_sample_once_and_answers_as_selections_scoring_themselves(
    built, tmp_path, monkeypatch, rule, mode
):
    import epvlm.evaluate

    calls = _count_scoring(monkeypatch)
    _evaluate(built, tmp_path / "shared", rule=rule, event_mode=mode)
    # it was once per sample and keep (and event's again for the baselines under quantile)
    assert calls == {"mass": N_SAMPLES, "edges": N_SAMPLES}
    monkeypatch.undo()

    # no scores handed over: every selection computes its own, as before they were shared
    with monkeypatch.context() as m:
        m.setattr(
            epvlm.evaluate,
            "_batch_scores",
            lambda cache, selector, proc, items, *a: [None] * len(items),
        )
        _evaluate(built, tmp_path / "own", rule=rule, event_mode=mode)
    own = _outputs(tmp_path / "own")
    assert _outputs(tmp_path / "shared") == own
    if rule != "quantile":
        return
    # a resume recomputes the scores of a batch begun before the interrupt: stopped after
    # batch 1 and batch 2's dense and event@0.75 (1 + 3 x 2 configurations, then 2), the
    # rest of batch 2 scores its sample again, and random@0.75 takes the count of an event
    # selection made anew from them
    steps = 1 + len(EVAL_SELECTORS) * len(EVAL_KEEPS) + 2
    _interrupted_after(built, tmp_path / "resumed", monkeypatch, steps, rule=rule, event_mode=mode)
    _evaluate(built, tmp_path / "resumed", rule=rule, event_mode=mode)
    assert _outputs(tmp_path / "resumed") == own
