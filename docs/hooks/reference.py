"""MkDocs hook: the CLI and training-option references, written from the code at build time.

A page holds a marker line; the hook replaces it with Markdown generated from the objects
themselves, so the reference cannot drift from the code:

    <!-- textfit:cli -->     every command of the typer app (textfit.cli:app): usage, help, options
    <!-- textfit:config -->  every TrainConfig field: name, default, meaning (config.field_docs())

A TrainConfig field without a docstring is logged as a warning, which fails `mkdocs build --strict`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re

log = logging.getLogger("mkdocs.plugins.textfit")

CLI_MARKER = "<!-- textfit:cli -->"
CONFIG_MARKER = "<!-- textfit:config -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference())
    return markdown


# --- the CLI ---------------------------------------------------------------------------------


def cli_reference() -> str:
    """One section per command of the typer app, in the order the app registers them. Only the
    command objects' own methods are used (typer may bring its own copy of click)."""
    import typer.main

    from textfit.cli import app

    root = typer.main.get_command(app)
    root_context = root.context_class(root, info_name="textfit")
    sections = [help_markdown(root.help or ""), "Every command also takes `--help`."]
    for name, command in root.commands.items():
        if not command.hidden:
            sections.append(
                command_section(name, command, command.context_class(command, info_name=name, parent=root_context))
            )
    return "\n\n".join(sections)


def command_section(name: str, command, context) -> str:
    usage = " ".join([context.command_path, *command.collect_usage_pieces(context)])
    help_names = set(command.get_help_option_names(context))
    shown = [p for p in command.get_params(context) if not p.hidden and not help_names & set(p.opts)]
    arguments = [p for p in shown if p.param_type_name == "argument"]
    options = [p for p in shown if p.param_type_name == "option"]
    parts = [f"## `textfit {name}`", f"```\n{usage}\n```", help_markdown(command.help or "")]
    if arguments:
        parts.append("**Arguments**\n\n" + "\n".join(parameter_line(p, context) for p in arguments))
    if options:
        parts.append("**Options**\n\n" + "\n".join(parameter_line(p, context) for p in options))
    return "\n\n".join(part for part in parts if part)


def help_markdown(text: str) -> str:
    """A command's help as `--help` shows it: Markdown (the app's rich_markup_mode), paragraphs kept.
    Click's \\b (keep this paragraph's line breaks) becomes a Markdown line break per line."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            lines = paragraph.lstrip("\b").strip("\n").split("\n")
            paragraphs.append("  \n".join(line.strip() for line in lines))
        else:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def parameter_line(parameter, context) -> str:
    """One bullet from the parameter's own help record (what `--help` prints): its flags and type,
    then its help with the [default: ...] and [required] notes."""
    record = parameter.get_help_record(context)
    flags, help_text = record if record else (parameter.name, "")
    help_text = " ".join((help_text or "").split())
    line = f"* `{flags}`"
    return f"{line}: {escape(help_text)}" if help_text else line


def escape(text: str) -> str:
    """Help is plain text with `code` spans: keep HTML-looking pieces (<path>, <NAME>) literal."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


# --- TrainConfig -----------------------------------------------------------------------------


def config_reference() -> str:
    """A table per group of TrainConfig (the `# --- group ---` comments in config.py): field, CLI
    flag of `textfit train` where there is one, default, meaning."""
    from textfit.config import TrainConfig, field_docs

    docs = field_docs()
    flags = train_flags()
    groups: dict[str, list[str]] = {}
    group_of = field_groups(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        meaning = docs.get(field.name)
        if not meaning:
            log.warning("TrainConfig.%s has no docstring: the config reference needs one (config.py)", field.name)
            meaning = ""
        flag = flag_for(field.name, flags)
        row = [f"`{field.name}`", f"`{flag}`" if flag else "", default_of(field), meaning]
        groups.setdefault(group_of.get(field.name, "other"), []).append(
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
        )
    header = "| field | `textfit train` flag | default | meaning |\n|---|---|---|---|"
    return "\n\n".join(f"## {group.capitalize()}\n\n{header}\n" + "\n".join(rows) for group, rows in groups.items())


def default_of(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    return f"`{value!r}`"


def field_groups(cls: type) -> dict[str, str]:
    """Which `# --- name ---` comment each field stands under in the class's source."""
    groups, current = {}, "other"
    for line in inspect.getsource(cls).splitlines():
        heading = re.match(r"\s*#\s*-+\s*(\w[\w ]*?)\s*-+\s*$", line)
        field = re.match(r"\s{4}(\w+)\s*:", line)
        if heading:
            current = heading.group(1)
        elif field:
            groups[field.group(1)] = current
    return groups


def train_flags() -> dict[str, str]:
    """`textfit train`'s argument or option for each parameter name, read from the app itself."""
    import typer.main

    from textfit.cli import app

    train = typer.main.get_command(app).commands["train"]
    flags = {}
    for parameter in train.params:
        if parameter.param_type_name == "argument":
            flags[parameter.name] = parameter.name.upper()
        elif parameter.name:
            flags[parameter.name] = " / ".join([parameter.opts[-1], *parameter.secondary_opts])
    return flags


def flag_for(field: str, flags: dict[str, str]) -> str:
    """The flag named as the field, or as the field without its unit (--distributed-timeout sets
    distributed_timeout_minutes)."""
    for unit in ("", "_minutes", "_seconds"):
        if field.endswith(unit) and field[: len(field) - len(unit)] in flags:
            return flags[field[: len(field) - len(unit)]]
    return ""
