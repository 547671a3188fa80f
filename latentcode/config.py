"""Composed configs: a command's settings are several dataclasses, each owned by the part
that reads it, parsed together from one YAML file and the command line.

    @dataclass
    class GRPOSetup:                    # a setup: one field per section
        grpo: CodeGRPOConfig = field(default_factory=CodeGRPOConfig)
        model: ModelArgs = field(default_factory=ModelArgs)
        task: TaskConfig = ...

    setup = parse(GRPOSetup, ["--config", "run.yaml", "--mdl", "ast", "--model", "tiny"])
    setup = compose(GRPOSetup, model="tiny", mdl="ast", max_steps=5)   # the same from Python

Every field of every section is a flag (``--mdl-weight``) and a YAML key (``mdl_weight``);
a field's ``aliases`` metadata adds names (``--model`` for ``model_name_or_path``), which
the YAML file and ``compose`` accept too. Flags override the file; a name two sections
share is refused when the parser is built, so no setting is ever copied from one section
into another. A section's default in the setup (``ModelArgs(use_peft=True)`` for GRPO)
is the command's default for its fields.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

from trl import TrlParser


def setting(default, help: str, *aliases: str):
    """A section's field: its default, its help (the flag's help text) and any other flag
    names it answers to (``--samples`` for ``num_samples``)."""
    return dataclasses.field(default=default, metadata={"help": help, "aliases": list(aliases)})


def sections(setup_cls) -> list[tuple[str, type]]:
    """(name, dataclass) of each section of a setup class, in order."""
    hints = typing.get_type_hints(setup_cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(setup_cls)]


def _aliases(cls) -> dict[str, str]:
    """{alias as a YAML key: field name} from the fields' ``aliases`` metadata."""
    out = {}
    for f in dataclasses.fields(cls):
        names = f.metadata.get("aliases", [])
        for a in [names] if isinstance(names, str) else names:
            out[a.lstrip("-").replace("-", "_")] = f.name
    return out


def _section_defaults(setup_cls) -> dict[str, Any]:
    """Field values a setup's section defaults set apart from the section class's own."""
    out = {}
    for f in dataclasses.fields(setup_cls):
        factory = f.default_factory
        if factory is dataclasses.MISSING or isinstance(factory, type):
            continue  # the class itself: its own defaults
        inst = factory()
        for g in dataclasses.fields(inst):
            if g.init and g.default is not dataclasses.MISSING and getattr(inst, g.name) != g.default:
                out[g.name] = getattr(inst, g.name)
    return out


class SetupParser(TrlParser):
    """TrlParser over a setup's sections; YAML keys may use the fields' aliases."""

    def __init__(self, setup_cls, **kwargs):
        self.setup_cls = setup_cls
        types = [cls for _, cls in sections(setup_cls)]
        try:
            super().__init__(dataclass_types=types, **kwargs)
        except Exception as e:  # argparse's conflict error names the flag
            raise TypeError(f"{setup_cls.__name__}: two sections define the same setting ({e})") from None
        self.alias_map = {k: v for cls in types for k, v in _aliases(cls).items()}
        self.set_defaults(**_section_defaults(setup_cls))

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        return super().set_defaults_with_config(**{self.alias_map.get(k, k): v for k, v in kwargs.items()})

    def parse_setup(self, argv: list[str] | None = None):
        self._defaults_from_resumed_run(sys.argv[1:] if argv is None else argv)
        parsed = self.parse_args_and_config(argv)
        return self.setup_cls(**{name: value for (name, _), value in zip(sections(self.setup_cls), parsed)})


    def _defaults_from_resumed_run(self, argv: list[str]) -> None:
        """With ``--resume RUN``, the run's recorded settings become the defaults, so a resume
        needs no other flag and a flag given is a change the command can refuse by name.
        A section saved by TrainingArguments' ``to_dict`` gets back the fields that differ
        from a fresh section's, except those it derives (its class's ``derived_fields``)."""
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--resume")
        known, _ = pre.parse_known_args(argv)
        saved_path = Path(known.resume or "") / "config.json"
        if not known.resume or not saved_path.is_file():
            return  # no resume, or the command reports the missing run folder itself
        try:
            saved = json.loads(saved_path.read_text())
        except ValueError as e:
            raise ValueError(f"{saved_path}: not valid JSON ({e}); the run folder is damaged") from None
        if not isinstance(saved, dict):
            raise ValueError(f"{saved_path} is not a JSON object; the run folder is damaged")
        kind = getattr(self.setup_cls, "KIND", None)
        if kind is not None and isinstance(saved.get("kind"), str) and saved["kind"] != kind:
            raise ValueError(other_kind(saved["kind"], kind, known.resume))  # before its settings mislead
        factories = {f.name: f.default_factory for f in dataclasses.fields(self.setup_cls)}
        for name, cls in sections(self.setup_cls):
            if not isinstance(saved.get(name), dict):
                continue
            fields = {f.name for f in dataclasses.fields(cls) if f.init} - {"resume"}
            values = saved[name]
            if hasattr(cls, "to_dict"):
                # a TrainingArguments section: its saved form also holds what its __post_init__
                # derived; restore only what differs from a fresh section, less the derived fields
                fresh = json.loads(json.dumps(factories[name]().to_dict(), default=str))
                fields -= set(getattr(cls, "derived_fields", ()))
                values = {k: v for k, v in values.items() if fresh.get(k) != v}
            self.set_defaults(**{k: v for k, v in values.items() if k in fields})


def resume_command(kind: str | None, path) -> str | None:
    """The command that continues a run folder of ``kind`` (None: that kind does not resume)."""
    if kind == "bench":
        return f"latentcode bench --resume {path}"
    if kind in ("grpo", "es", "em"):
        return f"latentcode train {kind} --resume {path}"
    return None


def other_kind(found: str | None, kind: str, resume: str) -> str:
    """The message refusing to resume a run folder of kind ``found`` as a ``kind`` run."""
    def a(k: str) -> str:
        return f"{'an' if k[:1] in 'aeiou' else 'a'} {k}"
    what = f"{a(found)} run" if isinstance(found, str) else "not a run of a known kind"
    how = resume_command(found, resume)
    return (f"resume: {resume} is {what}, not {a(kind)} run" + (f" (continue it with `{how}`)" if how else "")
            + "; to start a new run, leave out --resume")


def parse(setup_cls, argv: list[str] | None = None, *, prog: str | None = None,
          description: str | None = None):
    """A setup from ``--config FILE.yaml`` and flags (flags win)."""
    return SetupParser(setup_cls, prog=prog, description=description).parse_setup(argv)


def compose(setup_cls, **settings):
    """A setup from flat keyword settings, each given to the section that owns the field
    (aliases accepted); an unknown name raises, naming it."""
    by_section: dict[str, dict] = {name: {} for name, _ in sections(setup_cls)}
    owner = {}
    for name, cls in sections(setup_cls):
        for f in dataclasses.fields(cls):
            if f.init:
                owner[f.name] = name
        for alias, target in _aliases(cls).items():
            owner.setdefault(alias, name)
            settings = {(target if k == alias else k): v for k, v in settings.items()}
    settings = {**_section_defaults(setup_cls), **settings}
    unknown = sorted(set(settings) - set(owner))
    if unknown:
        raise TypeError(f"{setup_cls.__name__} has no setting {', '.join(map(repr, unknown))}; "
                        f"see `--help` for the fields")
    for key, value in settings.items():
        by_section[owner[key]][key] = value
    return setup_cls(**{name: cls(**by_section[name]) for name, cls in sections(setup_cls)})


def to_dict(setup) -> dict[str, dict]:
    """{section: its fields}, JSON-ready (a TrainingArguments section through its ``to_dict``,
    which leaves out tokens)."""
    out = {}
    for f in dataclasses.fields(setup):
        section = getattr(setup, f.name)
        out[f.name] = section.to_dict() if hasattr(section, "to_dict") else dataclasses.asdict(section)
    return out


def from_dict(setup_cls, saved: dict[str, dict]):
    """The setup a run folder's config.json recorded (its sections as saved; a missing
    section or field takes its default, an unknown one is refused by the dataclass)."""
    return setup_cls(**{name: cls(**saved.get(name, {})) for name, cls in sections(setup_cls)})


def changed(saved: dict[str, dict], setup, may_change: set[str]) -> list[str]:
    """'section.field: saved -> now' for each recorded setting the new setup changes,
    except the fields in ``may_change``."""
    now = to_dict(setup)
    out = []
    for name, fields in saved.items():
        for key, old in fields.items():
            if key in may_change or key not in now.get(name, {}):
                continue
            if now[name][key] != old:
                out.append(f"{name}.{key}: {old!r} -> {now[name][key]!r}")
    return out
