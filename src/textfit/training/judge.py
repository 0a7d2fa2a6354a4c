"""The fine-tuning loop's two decisions, each a pure function of the numbers it needs and returned
with its reason: after every step, how many steps the time budget allows and whether this one is
the last (`pace_after_step`); after every evaluation, whether its weights are the best so far and
whether training ends there (`judge`). The loop (finetune.py) applies them; tests call them alone."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.evaluate import improves_on
from .loop import LoopState, steps_for_budget


@dataclass(frozen=True)
class Plan:
    """What the loop plans with, fixed once its batches are known."""

    epochs: int
    steps_per_epoch: int
    """On the sharded loader: one step takes one slice on every process."""
    eval_every: int
    """Steps between evaluations."""
    batch_size: int
    """Global: examples per optimiser step, over all the processes."""
    eval_examples: int
    """Held-out examples one process scores at each evaluation."""

    @property
    def all_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class TimeBudget:
    seconds: float
    probe: tuple[int, int]
    """The steps between which the pace is timed. Not the first steps: LengthGroupedSampler puts the
    longest batch first and the first steps pay one-off costs, so they would make the plan too short."""

    @classmethod
    def of(cls, minutes: float | None, planned_steps: int) -> TimeBudget | None:
        if not minutes:
            return None
        return cls(minutes * 60, (min(10, planned_steps // 20 + 1), min(50, planned_steps // 10 + 2)))


@dataclass(frozen=True)
class Pace:
    """After a step: the steps planned in all, whether this step is the last, and why."""

    planned_steps: int
    last_step: bool
    probe_start: float
    """Seconds of training (evaluations left out) when the pace's timing began."""
    replanned: bool
    why: str


def pace_after_step(state: LoopState, elapsed_s: float, budget: TimeBudget | None, plan: Plan) -> Pace:
    """The plan after `state.step` steps and `elapsed_s` seconds: a time budget times the pace over
    its probe steps, then plans the steps that fit what is left of it (counting the evaluations)."""
    planned, probe_start, replanned, why = state.planned_steps, state.probe_start, False, "on plan"
    if budget and state.step == budget.probe[0]:
        probe_start, why = elapsed_s - state.eval_s, f"timing the pace from step {state.step}"
    if budget and state.step == budget.probe[1]:
        step_s = (elapsed_s - state.eval_s - probe_start) / (budget.probe[1] - budget.probe[0])
        planned = steps_for_budget(
            budget.seconds - elapsed_s,
            step_s,
            planned,
            state.step,
            eval_every=plan.eval_every,
            eval_examples=plan.eval_examples,
            batch_size=plan.batch_size,
        )
        replanned, why = True, f"{step_s:.3f} s a step: {planned} steps fit the time budget"
    if state.step >= planned:
        return Pace(planned, True, probe_start, replanned, f"the {planned} planned steps are done")
    if budget and elapsed_s > budget.seconds:
        return Pace(planned, True, probe_start, replanned, f"the time budget of {budget.seconds:g} s is spent")
    return Pace(planned, False, probe_start, replanned, why)


@dataclass(frozen=True)
class Verdict:
    """After an evaluation: whether its weights are the best so far (and are kept), the evaluations
    since the best one, and why training ends here (the run's status), or None to go on."""

    best: bool
    stale: int
    ending: str | None
    why: str


def judge(
    metrics: dict,
    state: LoopState,
    *,
    baseline: dict | None,
    patience: int,
    last_step: bool,
    elapsed_s: float,
    budget: TimeBudget | None,
    plan: Plan,
) -> Verdict:
    """The kept-weights rule (evaluate.improves_on: a higher macro-F1, and clearly beating the
    majority-class baseline first) and the end of training: `patience` evaluations without a better
    one, or the last step, which the time budget ended when it ran out or planned fewer steps."""
    best = improves_on(metrics, state.best, baseline)
    stale = 0 if best else state.stale + 1
    if stale >= patience:
        return Verdict(
            best, stale, "stopped early", f"{stale} evaluations without a better macro-F1 (patience {patience})"
        )
    if not last_step:
        return Verdict(best, stale, None, "better than the best so far" if best else f"{stale} without a better one")
    if budget and elapsed_s > budget.seconds:
        return Verdict(best, stale, "time budget reached", f"{elapsed_s:.0f} s of a {budget.seconds:g} s budget spent")
    if budget and state.planned_steps < plan.all_steps:
        why = f"the budget planned {state.planned_steps} of {plan.all_steps} steps"
        return Verdict(best, stale, "time budget reached", why)
    return Verdict(best, stale, "completed", f"all {state.planned_steps} planned steps done")
