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

from latentcode.commands import COMMANDS, TINY_DEFAULTS, resume_command  # noqa: F401 (re-exported)


def setting(default, help: str, *aliases: str, factory=None):
    """A section's field, the one way fields are declared: its default (``factory``: a
    function making it, for a list), its help (the flag's help text) and any other flag names
    it answers to (``--samples`` for ``num_samples``). TRL's own fields keep TRL's form,
    ``field(default=..., metadata={"help": ...})``, which this is."""
    meta = {"help": help, "aliases": list(aliases)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class RunConfig:
    """The ``run`` section, shared by every command: where its folder goes, how it is named,
    which one it continues, and the run's seed, device and output. A field of the same name in
    another section (the sampler's ``seed``, TRL's ``seed``) is set from this one
    (``fill_from_run``), so one ``--seed`` seeds everything."""
    runs_dir: str = setting("runs", "where run folders are created")
    run_name: str | None = setting(None, "run folder name after its timestamp (default: <command>-<suite>)",
                                   "--name")
    resume: str | None = setting(None, "a run folder to continue, with the settings it recorded (a trainer: "
                                 "from its last checkpoint; bench: the questions it lacks)")
    seed: int = setting(0, "seed of the sampling, the task draws and the initial weights")
    quiet: bool = setting(False, "no progress output")
    device: str | None = setting(None, "cpu, cuda, cuda:1 (default: cuda if available; GRPO: TRL's --use-cpu "
                                 "decides)")




def from_run(setup_cls) -> set[str]:
    """The fields the ``run`` section owns. Another section may hold a copy under the same name
    (the sampler's ``seed``, TRL's): declared ``init=False``, so it is no setting of its own,
    and ``fill_from_run`` sets it from the run section; one ``--seed`` seeds everything."""
    hints = dict(sections(setup_cls))
    if "run" not in hints:
        return set()
    return {f.name for f in dataclasses.fields(hints["run"]) if f.init}


def fill_from_run(setup) -> None:
    """Every section's fields that the ``run`` section owns, set from it (see ``from_run``)."""
    run = getattr(setup, "run", None)
    if run is None:
        return
    shared = from_run(type(setup))
    for name, _ in sections(type(setup)):
        section = getattr(setup, name)
        if name == "run":
            continue
        for f in dataclasses.fields(section):
            if f.name in shared:
                setattr(section, f.name, getattr(run, f.name))


def sections(setup_cls) -> list[tuple[str, type]]:
    """(name, dataclass) of each section of a setup class, in order: the command's own section
    (named by its ``KIND``) first, then the others as declared."""
    hints = typing.get_type_hints(setup_cls)
    out = [(f.name, hints[f.name]) for f in dataclasses.fields(setup_cls)]
    return sorted(out, key=lambda s: s[0] != getattr(setup_cls, "KIND", None))


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


_OURS = ("latentcode", "tasks", "sandbox")
# inherited (TRL / transformers) fields a trainer's short help still lists: those its configs
# and docs set; the other ~190 are folded under --help-all
_COMMON_INHERITED = {"learning_rate", "max_steps", "num_generations", "per_device_train_batch_size",
                     "gradient_accumulation_steps", "max_completion_length", "temperature", "beta",
                     "save_steps", "logging_steps", "seed", "bf16", "use_cpu", "lora_r", "lora_alpha"}
# an inference command (bench) folds what only training reads
_TRAINING_ONLY = ("use_peft", "lora_", "use_dora", "use_rslora", "load_in_", "bnb_", "use_bnb_")



def _model_named(argv: list[str], data: dict | None) -> str | None:
    """The model a command line (or its YAML file) names, if any; flags win."""
    names = ("--model", "--model_name_or_path", "--model-name-or-path")
    for i, a in enumerate(argv[:-1]):
        if a in names:
            return argv[i + 1]
    for a in argv:
        if a.split("=", 1)[0] in names and "=" in a:
            return a.split("=", 1)[1]
    data = data or {}
    return data.get("model", data.get("model_name_or_path"))


def _defined_by(cls, name: str) -> type:
    """The class of ``cls``'s MRO that declares the field ``name``."""
    return next((k for k in cls.__mro__ if name in k.__dict__.get("__annotations__", {})), cls)


def _folded(setup_cls, section_cls, name: str) -> bool:
    """Whether a field is left out of the short help (``--help-all`` shows it)."""
    if getattr(setup_cls, "KIND", None) == "bench":
        return name.startswith(_TRAINING_ONLY) or not _defined_by(section_cls, name).__module__.startswith(_OURS)
    return not _defined_by(section_cls, name).__module__.startswith(_OURS) and name not in _COMMON_INHERITED


def _metavar(action) -> str:
    if action.metavar:
        return action.metavar
    if action.choices:
        return "{" + ",".join(map(str, action.choices)) + "}"
    inner = action.type
    if not isinstance(inner, type) and getattr(inner, "__closure__", None):  # TRL's none-or-type wrapper
        inner = next((c.cell_contents for c in inner.__closure__ if isinstance(c.cell_contents, type)), inner)
    kind = {int: "N", float: "X"}.get(inner)
    if kind is None and getattr(action.type, "__name__", "") == "string_to_bool":
        kind = "{true,false}"
    return (kind or "VALUE") + (" ..." if action.nargs == "+" else "")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """One name per flag (the dashed one, and its aliases), the default after the help."""

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        names = [o for o in action.option_strings if "_" not in o or o.replace("_", "-") not in action.option_strings]
        return ", ".join(names) + ("" if action.nargs == 0 else " " + _metavar(action))

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        shown = default is not None and default is not argparse.SUPPRESS and default != "" and default != []
        if action.option_strings and shown and "default" not in text:  # 0 and False are defaults too
            text += f" (default: {default})"
        return text.replace("%", "%%")


class _HelpAll(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.unfold()
        parser.print_help()
        parser.exit()


class SetupParser(TrlParser):
    """TrlParser over a setup's sections; YAML keys may use the fields' aliases. Its help lists
    the command's own sections first and folds the inherited TRL / transformers fields
    (``--help-all`` lists them); bad input raises a one-line ValueError naming the fix."""

    def __init__(self, setup_cls, **kwargs):
        self.setup_cls = setup_cls
        self.shared = from_run(setup_cls)
        self.run_cls = dict(sections(setup_cls)).get("run")
        types = [cls for _, cls in sections(setup_cls)]
        prog = kwargs.get("prog") or "latentcode"
        kwargs.setdefault("usage", f"{prog} [--config FILE.yaml] [--FLAG VALUE ...] [--help | --help-all] [--debug]")
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # a cut name is a typo to name, not a guess to act on
        try:
            super().__init__(dataclass_types=types, **kwargs)
        except Exception as e:  # argparse's conflict error names the flag
            raise TypeError(f"{setup_cls.__name__}: two sections define the same setting ({e})") from None
        self.alias_map = {k: v for cls in types for k, v in _aliases(cls).items()}
        self.set_defaults(**_section_defaults(setup_cls))
        self._group_by_section()

    def _group_by_section(self) -> None:
        """Each section's flags under its own heading, in the setup's order; folded fields
        under one heading per defining class, hidden until ``--help-all``."""
        by_dest: dict[str, list] = {}
        for action in self._actions:
            by_dest.setdefault(action.dest, []).append(action)
        # --debug is read by the command line before parsing (transformers' TrainingArguments
        # has a `debug` field of its own, reachable only as a YAML key)
        general = self.add_argument_group("general", "--debug, anywhere on the line: on an error, the "
                                          "traceback instead of one line")
        general.add_argument("--config", metavar="FILE.yaml", help="settings from a YAML file (keys: the flags' "
                             "names, with _ or -); flags given as well override the file")
        general.add_argument("--help-all", action=_HelpAll, nargs=0,
                             help="also list the inherited TRL / transformers options")
        folded: dict[str, list] = {}
        self.folded_help: dict[int, str] = {}
        groups = []
        for name, cls in sections(self.setup_cls):
            own = self.add_argument_group(f"{name} ({cls.__name__})")
            groups.append(own)
            for f in dataclasses.fields(cls):
                if not f.init:
                    continue
                if _folded(self.setup_cls, cls, f.name):
                    owner = _defined_by(cls, f.name)
                    folded.setdefault(f"{name}: inherited from {owner.__module__.split('.')[0]}'s {owner.__name__} "
                                      "(shown by --help-all)", []).extend(by_dest.get(f.name, []))
                else:
                    own._group_actions.extend(by_dest.get(f.name, []))
        for action in self._actions:  # --no-X: one line under --X, not its help twice
            yes = next((a for a in by_dest.get(action.dest, []) if a is not action), None)
            if action.option_strings and action.option_strings[0].startswith("--no_") and yes is not None:
                if yes.help not in (None, argparse.SUPPRESS):
                    yes.help += f" ({action.option_strings[-1]}: false)"
                action.help = argparse.SUPPRESS
        for title, actions in folded.items():
            g = self.add_argument_group(title)
            g._group_actions.extend(actions)
            for a in actions:
                self.folded_help[id(a)] = a.help
                a.help = argparse.SUPPRESS
        options = self._action_groups[1]  # argparse's "options": only -h stays there
        options._group_actions[:] = [a for a in options._group_actions if a.dest == "help"]
        self._action_groups[2:] = [general, *groups, *self._action_groups[2:len(self._action_groups) - len(groups) - 1 - len(folded)],
                                   *self._action_groups[-len(folded):]] if folded else [general, *groups]
        self.folded_count = sum(len(v) for v in folded.values())
        if self.folded_count:
            self.epilog = (f"{self.folded_count} more options inherited from TRL and transformers are accepted "
                           f"(as flags and YAML keys); `{self.prog} --help-all` lists them.")

    def unfold(self) -> None:
        for action in self._actions:
            if id(action) in self.folded_help:
                action.help = self.folded_help[id(action)]
        self.epilog = None

    def error(self, message: str):
        """argparse's errors (a bad value, a missing value): one line, raised, not printed
        after 30 lines of usage."""
        raise ValueError(f"{message}; see `{self.prog} --help`")

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        return super().set_defaults_with_config(**{self.alias_map.get(k, k): v for k, v in kwargs.items()})

    def parse_setup(self, argv: list[str] | None = None):
        argv = list(sys.argv[1:] if argv is None else argv)
        argv = [a for a in argv if a != "--debug"]  # the command line handles it
        data = self._check_config_file(argv)
        self._check_names(argv, data)
        if _model_named(argv, data) == "tiny":
            self.set_defaults(**TINY_DEFAULTS.get(getattr(self.setup_cls, "KIND", None), {}))
        self._defaults_from_resumed_run(argv)
        *parsed, from_file, from_flags = self.parse_args_and_config(argv, return_remaining_strings=True,
                                                                    separate_remaining_strings=True)
        if from_file:
            raise ValueError(self._unknown(from_file, "key", "in " + argv[argv.index("--config") + 1]))
        if from_flags:
            raise ValueError(self._unknown(from_flags, "flag", ""))
        return self.setup_cls(**{name: value for (name, _), value in zip(sections(self.setup_cls), parsed)})

    def _unknown(self, remaining: list[str], what: str, where: str) -> str:
        """'unknown flag --nosuch; did you mean --no-such?' for the first unknown name."""
        import difflib
        names = [r for r in remaining if r.startswith("-")] or remaining
        if what == "key":
            names = remaining
        name = names[0]
        shown = name.lstrip("-").replace("-", "_") if what == "key" else name
        known = sorted({o.lstrip("-").replace("-", "_") for a in self._actions for o in a.option_strings})
        close = difflib.get_close_matches(name.lstrip("-").replace("-", "_"), known, n=1)
        hint = (f"; did you mean {close[0] if what == 'key' else '--' + close[0].replace('_', '-')}?" if close
                else f"; `{self.prog} --help-all` lists every {what}")
        extra = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        return f"unknown {what} {shown}{' ' + where if where else ''}{extra}{hint}"

    def _check_config_file(self, argv: list[str]) -> dict | None:
        """--config FILE: a file that exists and holds a YAML mapping (returned), else one line."""
        if "--config" not in argv:
            return None
        i = argv.index("--config")
        if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
            raise ValueError("--config needs a YAML file (configs/ has examples)")
        path = Path(argv[i + 1])
        if not path.is_file():
            raise ValueError(f"--config {path}: no such file (configs/ has examples)")
        import yaml
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark, context = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            if context is not None and getattr(e, "context", None):
                where += f" ({e.context} started at line {context.line + 1})"
            raise ValueError(f"{path} is not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must be a YAML mapping of settings (key: value per line), "
                             f"not {type(data).__name__}")
        return data

    def _check_names(self, argv: list[str], data: dict | None) -> None:
        """Unknown flags and YAML keys, named before any section is built (a section's own
        checks would otherwise speak first, about something else)."""
        self._check_renamed(argv, data)
        rest = list(argv)
        if "--config" in rest:
            del rest[rest.index("--config"):rest.index("--config") + 2]
        _, unknown = self.parse_known_args(rest)
        if unknown:
            raise ValueError(self._unknown(unknown, "flag", ""))
        dests = {a.dest for a in self._actions}
        keys = [k for k in (data or {}) if k != "env" and self.alias_map.get(k, k) not in dests]
        if keys:
            raise ValueError(self._unknown(keys, "key", "in " + argv[argv.index("--config") + 1]))


    def _check_renamed(self, argv: list[str], data: dict | None) -> None:
        """An old name whose meaning moved (ES's ``batch_size``) is refused, naming the new one."""
        command = COMMANDS.get(getattr(self.setup_cls, "KIND", None))
        for old, new in (command.renamed if command else {}).items():
            flags = {f"--{old}", f"--{old.replace('_', '-')}"}
            if any(a.split("=", 1)[0] in flags for a in argv) or old in (data or {}):
                raise ValueError(f"{old} is now {new} in `{command.command}` (--{new.replace('_', '-')}); "
                                 f"rename it in your flags or YAML file")

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
        saved = upgrade(self.setup_cls, saved)
        factories = {f.name: f.default_factory for f in dataclasses.fields(self.setup_cls)}
        for name, cls in sections(self.setup_cls):
            if not isinstance(saved.get(name), dict):
                continue
            fields = {f.name for f in dataclasses.fields(cls) if f.init} - {"resume"}
            if cls is not self.run_cls:
                fields -= self.shared
            values = saved[name]
            if hasattr(cls, "to_dict"):
                # a TrainingArguments section: its saved form also holds what its __post_init__
                # derived; restore only what differs from a fresh section, less the derived fields
                fresh = json.loads(json.dumps(factories[name]().to_dict(), default=str))
                fields -= set(getattr(cls, "derived_fields", ()))
                values = {k: v for k, v in values.items() if fresh.get(k) != v}
            self.set_defaults(**{k: v for k, v in values.items() if k in fields})


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
    shared = from_run(setup_cls)
    for name, cls in sections(setup_cls):
        for f in dataclasses.fields(cls):
            if f.init and (name == "run" or f.name not in shared):
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


def upgrade(setup_cls, saved: dict) -> dict:
    """A config.json in today's layout: a field recorded in a section that no longer holds it
    moves to the section that does (the ``run`` section's fields, ES's and EM's sampling now in
    ``expert``), under its current name (an alias such as EM's ``samples``, or a renamed field
    from the command table); a run field kept only as a copy (the sampler's ``seed``) fills the
    run section. Other keys stay, for the dataclass to refuse."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in saved.items()}
    command = COMMANDS.get(getattr(setup_cls, "KIND", None))
    renamed = command.renamed if command else {}
    shared, owner, alias = from_run(setup_cls), {}, {}
    for name, cls in sections(setup_cls):
        alias.update(_aliases(cls))
        for f in dataclasses.fields(cls):
            if f.init and (name == "run" or f.name not in shared):
                owner.setdefault(f.name, name)
    for name, cls in sections(setup_cls):
        values = out.get(name)
        own = {f.name for f in dataclasses.fields(cls)}
        for key in [k for k in values or {} if k not in own]:
            new = renamed.get(key, alias.get(key, key))
            if owner.get(new) is not None:
                out.setdefault(owner[new], {}).setdefault(new, values.pop(key))
    if shared:
        run = out.setdefault("run", {})
        for key in shared - set(run):  # a copy kept in another section (the sampler's seed)
            copies = [v[key] for n, v in out.items() if n != "run" and isinstance(v, dict) and key in v]
            if copies:
                run[key] = copies[0]
    return out


def from_dict(setup_cls, saved: dict[str, dict]):
    """The setup a run folder's config.json recorded (``upgrade``d: its sections as saved; a
    missing section or field takes its default, an unknown one is refused by the dataclass)."""
    saved = {k: v for k, v in upgrade(setup_cls, saved).items() if isinstance(v, dict)}

    def init_fields(cls, values: dict) -> dict:  # a copy of a run field (init=False) is not passed
        copies = {f.name for f in dataclasses.fields(cls) if not f.init}
        return {k: v for k, v in values.items() if k not in copies}
    return setup_cls(**{name: cls(**init_fields(cls, saved.get(name, {}))) for name, cls in sections(setup_cls)})


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
