"""How a training ended, in the run record's fields and the page's plain words: from the worker's
result.json (or its absence), whether the user asked it to stop, and the process's exit code."""

from __future__ import annotations

import time

ENDINGS = {"stopped early": "stopped early: no more improvement", "time budget reached": "stopped: time budget reached"}
"""A completed run's message, by the trainer's record status ('completed' needs no words)."""


KILLED_BY = {
    9: "the training process was killed (by hand, or by the system when memory ran short)",
    15: "the training process was asked to stop by the system (a shutdown or restart)",
}
"""A worker ended by a signal, in words: the page never shows 'signal 9' (SIGKILL, SIGTERM)."""


def ending(result: dict | None, code: int | None, by_user: bool, studio_stopped: bool = False) -> dict:
    """The fields to record for an ended run: status, message, and the metrics when a model was saved.
    `code`: the process's exit code, None when it is not known (not our child)."""
    fields = {"finished": time.time(), "pid": None}
    if result and result.get("ok"):
        record_status = result.get("status")
        fields.update(metrics=result.get("metrics"), yardstick=result.get("yardstick"), record_status=record_status)
        if record_status == "interrupted":
            fields["status"] = "stopped" if by_user else "interrupted"
            fields["message"] = (
                "stopped by you; the best model so far was saved"
                if by_user
                else "the studio was stopped during training; the best model so far was saved"
            )
        else:
            fields["status"] = "completed"
            fields["message"] = ENDINGS.get(record_status)
    elif result:
        fields["status"] = (
            "stopped" if result.get("stopped") and by_user else ("interrupted" if result.get("stopped") else "failed")
        )
        fields["message"] = result.get("error")
    else:  # no result: the process died (or was stopped while it was still starting)
        fields["status"] = "stopped" if by_user else "interrupted"
        fields["message"] = _no_result(code, by_user, studio_stopped)
    return fields


def _no_result(code: int | None, by_user: bool, studio_stopped: bool) -> str:
    if by_user:
        return "stopped by you before a model was saved"
    if studio_stopped:
        return "the studio was stopped while this run was training"
    if code is None:
        return "the training process is gone (the studio or the computer was restarted)"
    if code < 0:
        return KILLED_BY.get(-code, "the training process was ended from outside (by another program or the system)")
    return "the training process ended without saving a result (worker.log in the run's folder says why)"
