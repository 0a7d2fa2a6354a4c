"""The fine-tuning loop's decisions alone (judge.py): early stopping, the kept weights, the time
budget's plan and its end; no model, no clock, only the numbers each decision reads."""

from __future__ import annotations

from textfit.training.judge import Plan, TimeBudget, judge, pace_after_step
from textfit.training.loop import LoopState

PLAN = Plan(epochs=10, steps_per_epoch=100, eval_every=50, batch_size=32, eval_examples=200)
BASELINE = {"label": "a", "accuracy": 0.2, "margin": 0.05}


def scores(macro_f1: float, accuracy: float = 0.6) -> dict:
    return {"accuracy": accuracy, "macro_f1": macro_f1, "weighted_f1": macro_f1}


def entry(macro_f1: float, accuracy: float = 0.6) -> dict:
    return {"step": 50, **scores(macro_f1, accuracy)}


def verdict(state: LoopState, metrics: dict, *, patience=3, last_step=False, elapsed_s=10.0, budget=None):
    return judge(
        metrics,
        state,
        baseline=BASELINE,
        patience=patience,
        last_step=last_step,
        elapsed_s=elapsed_s,
        budget=budget,
        plan=PLAN,
    )


def test_training_stops_after_patience_evaluations_without_a_better_macro_f1():
    state = LoopState(planned_steps=1000, step=200, best=entry(0.5))
    endings = []
    for _ in range(3):
        decision = verdict(state, scores(0.5), patience=3)  # equal is not better
        assert decision.best is False
        state.stale = decision.stale
        endings.append(decision.ending)
    assert endings == [None, None, "stopped early"]
    assert "3 evaluations without a better macro-F1" in decision.why


def test_a_better_macro_f1_is_kept_and_starts_the_patience_again():
    state = LoopState(planned_steps=1000, step=200, best=entry(0.5), stale=2)
    decision = verdict(state, scores(0.51), patience=3)
    assert (decision.best, decision.stale, decision.ending) == (True, 0, None)
    assert verdict(LoopState(planned_steps=1000), scores(0.1)).best  # the first evaluation is the best so far


def test_an_evaluation_that_clearly_beats_the_baseline_is_kept_over_a_higher_macro_f1_that_does_not():
    state = LoopState(planned_steps=1000, step=200, best=entry(0.3, accuracy=0.21))  # not clearly above 0.2
    assert verdict(state, scores(0.2, accuracy=0.4)).best is True
    state = LoopState(planned_steps=1000, step=200, best=entry(0.2, accuracy=0.4))
    assert verdict(state, scores(0.3, accuracy=0.21)).best is False


def test_the_last_planned_step_completes_the_run():
    state = LoopState(planned_steps=PLAN.all_steps, step=PLAN.all_steps, best=entry(0.5))
    decision = verdict(state, scores(0.6), last_step=True)
    assert (decision.best, decision.ending) == (True, "completed")
    # patience outranks the end: the status says the run stalled
    assert verdict(state, scores(0.4), last_step=True, patience=1).ending == "stopped early"


def test_the_time_budget_ends_training_before_the_planned_steps():
    budget = TimeBudget.of(1, PLAN.all_steps)  # one minute
    state = LoopState(planned_steps=PLAN.all_steps, step=120, best=entry(0.5))
    pace = pace_after_step(state, elapsed_s=61.0, budget=budget, plan=PLAN)
    assert pace.last_step and pace.planned_steps == PLAN.all_steps and "time budget" in pace.why
    assert verdict(state, scores(0.6), last_step=True, elapsed_s=61.0, budget=budget).ending == "time budget reached"
    # in time, with the steps the budget planned done: the budget still ended it, before the epochs did
    shortened = LoopState(planned_steps=400, step=400, best=entry(0.5))
    assert pace_after_step(shortened, elapsed_s=50.0, budget=budget, plan=PLAN).last_step
    decision = verdict(shortened, scores(0.6), last_step=True, elapsed_s=50.0, budget=budget)
    assert decision.ending == "time budget reached" and "400 of 1000" in decision.why


def test_without_a_time_budget_only_the_planned_steps_end_the_run():
    state = LoopState(planned_steps=1000, step=50)
    pace = pace_after_step(state, elapsed_s=1e6, budget=None, plan=PLAN)
    assert (pace.planned_steps, pace.last_step, pace.replanned) == (1000, False, False)
    assert pace_after_step(LoopState(planned_steps=1000, step=1000), 1.0, None, PLAN).last_step


def test_the_first_steps_are_not_used_to_plan_the_budget():
    budget = TimeBudget.of(10, PLAN.all_steps)  # 600 s
    assert budget.probe == (10, 50)
    # The first 10 steps take 100 s (the longest batch, one-off costs), the next 40 one second each.
    state = LoopState(planned_steps=PLAN.all_steps, step=10)
    timing = pace_after_step(state, elapsed_s=100.0, budget=budget, plan=PLAN)
    assert timing.probe_start == 100.0 and not timing.replanned
    state = LoopState(planned_steps=PLAN.all_steps, step=50, probe_start=timing.probe_start)
    plan = pace_after_step(state, elapsed_s=140.0, budget=budget, plan=PLAN)
    assert plan.replanned and not plan.last_step and "1.000 s a step" in plan.why
    # ~460 s left at 1 s a step (less the evaluations): far more than the 2.8 s average of all 50 would allow
    assert 450 < plan.planned_steps < 50 + 460
    assert plan.planned_steps > 50 + 460 / 2.8


def test_evaluation_time_is_not_counted_as_step_time():
    budget = TimeBudget.of(10, PLAN.all_steps)
    state = LoopState(planned_steps=PLAN.all_steps, step=10, eval_s=30.0)
    probe_start = pace_after_step(state, elapsed_s=40.0, budget=budget, plan=PLAN).probe_start
    assert probe_start == 10.0
    state = LoopState(planned_steps=PLAN.all_steps, step=50, eval_s=60.0, probe_start=probe_start)
    plan = pace_after_step(state, elapsed_s=110.0, budget=budget, plan=PLAN)  # 40 steps in 40 s of training
    assert "1.000 s a step" in plan.why
