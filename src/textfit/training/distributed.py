"""One training spread over several processes (torchrun, accelerate launch): what the training
code needs to know about the others, and nothing of its own making: the process group, the
gradient all-reduce and the sharding are PyTorch's and Accelerate's.

How a run is shared out (train.py, train.finetune):
 * every process reads the data, builds the model and trains on its share of each batch;
   `--batch-size` is the *global* batch (examples per optimiser step, as in a one-process run),
   split evenly between the processes, so the steps, the learning-rate schedule and the results
   are those of a one-process run with the same options;
 * the main process (rank 0) alone fits the n-gram model, keeps the checkpoints, logs, fires the
   callbacks and saves the model folder; the others wait for it (`on_main`);
 * decisions read from a clock or from the evaluation (time budget, early stopping, the best
   weights, a checkpoint being due) are taken by the main process and sent to all (`on_main`
   with `share`), so every process takes the same steps and leaves the loop at the same one;
 * evaluations are sharded: each process scores a contiguous slice and the main process gets
   them back in order (`across_processes`), every example once.

A process that dies ends the others: torchrun's agent stops the rest of the group within
seconds, and a process stuck waiting on a partner that neither answers nor dies (a hung node) gives up
after `distributed_timeout_minutes` (1 by default), the process group's timeout. Where one process
works alone or at its own pace (reading the data, fitting the n-gram model, judging an evaluation,
saving), the others wait longer: at least `SOLO_WORK_MINUTES` (`wait_for_everyone`)."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import re
from collections.abc import Callable
from typing import TypeVar

from ..errors import TextfitError

T = TypeVar("T")

SOLO_WORK_MINUTES = 10.0
"""How long the others wait while one process works alone (the n-gram fit, a save) or reads its
data at its own pace: far longer than a training step, which `distributed_timeout_minutes` bounds."""
solo_work_minutes = SOLO_WORK_MINUTES
step_minutes = 1.0

# Launchers say how many processes take part: torchrun and accelerate launch set WORLD_SIZE; the
# MPI launchers Accelerate supports on CPUs set their own.
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def world_size() -> int:
    """How many processes train together (1 when not launched by torchrun or the like)."""
    for name in WORLD_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def is_distributed() -> bool:
    return world_size() > 1


def state():
    from accelerate import PartialState

    return PartialState()


def rank() -> int:
    return state().process_index if is_distributed() else 0


def is_main() -> bool:
    return rank() == 0


def start(timeout_minutes: float) -> None:
    """Join the process group (once per process; a no-op in a single process): gloo on CPUs, NCCL
    on GPUs, both chosen by Accelerate. `timeout_minutes` bounds every wait on the others: the main
    process's own work (the n-gram fit, saving) must fit in it."""
    if not is_distributed():
        return
    import torch
    from accelerate import PartialState

    global solo_work_minutes, step_minutes
    solo_work_minutes, step_minutes = max(SOLO_WORK_MINUTES, timeout_minutes), timeout_minutes
    # cpu=True: without it Accelerate stays single-process on a machine without GPUs.
    PartialState(cpu=not torch.cuda.is_available(), timeout=dt.timedelta(minutes=timeout_minutes))
    atexit.register(leave)
    if not is_main():  # one voice: the others speak only to report their own failure
        logging.getLogger("textfit").setLevel(logging.ERROR)


def leave(together: bool = False) -> None:
    """Leave the process group before the interpreter exits: a gloo group left to the interpreter's
    own teardown can abort a process ("terminate called without an active exception") after its
    work is done, which torchrun then reports as a failed run. `together` (after a run that ended
    well on every process): first wait for the others, so no process tears its connections down
    while a partner still finishes its last collective. A failing run leaves alone (at exit): its
    partners may be inside another collective and would never meet it."""
    import torch.distributed

    if not torch.distributed.is_initialized():
        return
    if together:
        wait_for_everyone()
    torch.distributed.destroy_process_group()


def accelerator(split_batches: bool = True):
    """The Accelerator a training loop runs under: in a group, each batch the loader yields is
    split between the processes (the batch size is global)."""
    from accelerate import Accelerator, DataLoaderConfiguration

    if not is_distributed():
        return Accelerator()
    import torch

    return Accelerator(
        cpu=not torch.cuda.is_available(), dataloader_config=DataLoaderConfiguration(split_batches=split_batches)
    )


def description() -> dict:
    """What the run record says about the processes: {"processes", "backend"}."""
    if not is_distributed():
        return {"processes": 1, "backend": None}
    import torch.distributed

    return {"processes": world_size(), "backend": torch.distributed.get_backend()}


class MainProcessFailed(TextfitError):
    """Raised on the other processes when the main one failed in work they were waiting for."""


def on_main(work: Callable[[], T], share: bool = False) -> T | None:
    """Run `work` on the main process only; the others wait for it. Returns its value on the main
    process, and on the others the same value (pickled and broadcast) with `share`, else None.
    A failure of `work` is raised on every process (a TextfitError with its own message), so no
    process is left waiting for a partner that has gone."""
    if not is_distributed():
        return work()
    from accelerate.utils import broadcast_object_list

    value, error, failure = None, None, None
    if is_main():
        try:
            value = work()
        except BaseException as exc:  # noqa: BLE001 - told to the others, then raised here
            error = exc
            failure = (
                str(exc)
                if isinstance(exc, TextfitError)
                else (
                    f"the main process (rank 0) failed: {type(exc).__name__}: {exc}; its output above has the details"
                )
            )
    wait_for_everyone(main_was_alone=True)  # the others wait here, as long as solo work may take
    message = [failure, value if share and error is None else None]
    broadcast_object_list(message, from_process=0)
    if error is not None:
        raise error
    if message[0] is not None:
        raise MainProcessFailed(message[0])
    return value if is_main() else message[1]


def across_processes(score: Callable[[list], T], items: list) -> list[T]:
    """`score` applied to contiguous slices of `items`, one per process; every process gets the
    results of all, in rank order (so in the order of `items`, every item once). A slice may be
    empty when there are fewer items than processes; its result is left out."""
    if not is_distributed():
        return [score(items)]
    from accelerate.utils import gather_object

    # Not Accelerator.gather_for_metrics: it trims by the *training* loader's remainder when an
    # evaluation happens at the end of an epoch. Contiguous slices gathered in rank order need no trim.
    with state().split_between_processes(items) as mine:
        part = [score(mine)] if len(mine) else []
    return gather_object(part)


def wait_for_everyone(main_was_alone: bool = False) -> None:
    """A barrier with a timeout of its own, `solo_work_minutes`, longer than the group's, for work
    done at each process's own pace. After the main process's solo work (`main_was_alone`) the
    others have long been waiting: the main process then gives them the group's timeout only, so a
    partner that froze meanwhile is noticed as soon as during training. gloo's `monitored_barrier`
    (NCCL has none; there the group's timeout applies)."""
    import torch.distributed

    if torch.distributed.get_backend() != "gloo":
        torch.distributed.barrier()
        return
    minutes = step_minutes if main_was_alone and is_main() else solo_work_minutes
    torch.distributed.monitored_barrier(timeout=dt.timedelta(minutes=minutes), wait_all_ranks=True)


def gather(value: T) -> list[T]:
    """Every process's `value`, in rank order (a one-item list in a single process)."""
    if not is_distributed():
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])


class NodesDisagree(TextfitError):
    """The processes of one training were started on different data, settings, model or output."""


def check_agreement(facts: dict[str, str]) -> None:
    """Every process's `facts` (digests of what it is about to train: its data, settings, base model,
    output folder) compared before the first step. Any difference ends every process with the same
    message, naming what differs and on which process and host, before anything is written: a
    model trained on mixed data, or a folder that one node silently never writes, is worse than none."""
    if not is_distributed():
        return
    import socket

    wait_for_everyone()  # each node reads its data at its own pace
    everyone = gather({"rank": rank(), "host": socket.gethostname(), "facts": facts})
    main = everyone[0]
    differences = [
        f"{what} on process {other['rank']} ({other['host']}) differs from process 0's ({main['host']})"
        for other in everyone[1:]
        for what in facts
        if other["facts"].get(what) != main["facts"].get(what)
    ]
    if differences:
        raise NodesDisagree(
            "the training processes were not started alike, so none of them trains: "
            + "; ".join(differences)
            + ". Start every node with the same command, data, model and --out"
        )


@contextlib.contextmanager
def partners_watched():
    """Turn a lost partner (a process that died or stopped answering) into one clear error; after work
    that ended well, leave the process group together."""
    if not is_distributed():
        yield
        return
    try:
        yield
    except RuntimeError as exc:
        if not lost_partner(exc):
            raise
        raise TextfitError(
            f"process {rank()} of {world_size()} lost contact with the others ({last_line(exc)}): another training "
            "process died or stopped answering, so this one stops too. Look for the first error in the "
            "launcher's output (torchrun lists the failed ranks); checkpoints, if written, resume with "
            "--resume and the same number of processes"
        ) from exc
    leave(together=True)  # the run ended well on this process: the others end with it


# What the process group raises when a partner is gone: gloo and NCCL errors reach Python as a
# plain RuntimeError (a timeout in DDP's gradient all-reduce, for one), newer ones as DistError.
LOST_PARTNER_MARKERS = (
    "gloo",
    "NCCL",
    "ProcessGroup",
    "c10d",
    "Connection closed by peer",
    "Connection reset by peer",
    "Timed out waiting",
    "monitoredBarrier",
)


def lost_partner(exc: RuntimeError) -> bool:
    import torch.distributed

    return isinstance(exc, torch.distributed.DistError) or any(marker in str(exc) for marker in LOST_PARTNER_MARKERS)


def last_line(exc: BaseException) -> str:
    """The message's last non-empty line that is not a C++ stack frame, whole, without the source
    location gloo puts first (`[.../unbound_buffer.cc:78] Timed out waiting ...`)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("frame #", "Exception raised from"))]
    return re.sub(r"^\[[^\]]*\.(cc|cpp|h|hpp):\d+\]\s*", "", lines[-1]) if lines else type(exc).__name__
