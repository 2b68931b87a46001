"""Load and validate configs against the one schema shipped with the package.

The same :func:`load_config` serves the CLI and the Snakefile, so a config that passes one
passes the other. Defaults from the schema are filled in; unknown keys are errors.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "ConfigError",
    "coerce_strings",
    "config_digest",
    "dump_config",
    "load_config",
    "schema",
    "validate_config",
]


class ConfigError(ValueError):
    """A config that does not fit the schema or whose values contradict each other."""


@cache
def schema() -> dict:
    """The JSON Schema (as a dict) that every config is validated against."""
    text = resources.files(__package__).joinpath("schema.yaml").read_text()
    return yaml.safe_load(text)


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that it fills in ``default`` values as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sub_schema):
        if isinstance(instance, dict):
            for key, spec in properties.items():
                if "default" in spec and key not in instance:
                    instance[key] = copy.deepcopy(spec["default"])
        yield from validate_properties(validator, properties, instance, sub_schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)

# JSON Schema counts 2.0 as an integer; this one does not, so that whole-number floats at
# integer keys (``--set train.batch_size=2.0``, ``length: 1.6e4``) can be found and made int
_StrictIntegers = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    ),
)


def _whole_floats_to_int(cfg: dict) -> None:
    """Turn whole-number floats at integer keys into ints, in place (``range``, array
    shapes and the models need real ints)."""
    for error in _StrictIntegers(schema()).iter_errors(cfg):
        if error.validator == "type" and isinstance(error.instance, float):
            node = cfg
            *parents, last = error.absolute_path
            for key in parents:
                node = node[key]
            node[last] = int(error.instance)


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return (
            f"{_where(error)}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed)}"
        )
    return f"{_where(error)}: {error.message}"


def validate_config(cfg: Mapping[str, Any], *, source: str = "config") -> dict:
    """Validate ``cfg`` against the schema and return a copy with every default filled in.

    Raises
    ------
    ConfigError
        Naming ``source``, the key path and what is wrong, e.g.
        ``configs/x.yaml: windows: unknown key(s) 'lenght'; allowed: ...``.
    """
    cfg = copy.deepcopy(dict(cfg or {}))
    errors = sorted(_Validator(schema()).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(f"{source}: {_message(errors[0])}")
    _whole_floats_to_int(cfg)
    _check_consistency(cfg, source)
    return cfg


def _check_consistency(cfg: dict, source: str) -> None:
    """Checks that span several keys (the schema checks each key alone)."""
    bin_size = cfg["targets"]["bin_size"]
    win = cfg["windows"]
    if win["length"] % bin_size:
        raise ConfigError(
            f"{source}: windows.length {win['length']} is not a multiple of "
            f"targets.bin_size {bin_size}; use e.g. {win['length'] // bin_size * bin_size or bin_size}"
        )
    n_bins = win["length"] // bin_size
    if 2 * win["crop_bins"] >= n_bins:
        raise ConfigError(
            f"{source}: windows.crop_bins {win['crop_bins']} leaves no bins of the "
            f"{n_bins} in a window; use fewer than {n_bins // 2}"
        )
    shift = cfg["augment"]["shift_bins"]
    if shift >= n_bins:
        raise ConfigError(
            f"{source}: augment.shift_bins {shift} is not below the {n_bins} bins of a "
            f"window: shifted windows would leave their place entirely; use a few bins (1-3)"
        )
    train = cfg["train"]
    if train["warmup_steps"] and train["warmup_steps"] >= train["max_steps"]:
        raise ConfigError(
            f"{source}: train.warmup_steps {train['warmup_steps']} is not below "
            f"train.max_steps {train['max_steps']}: the whole run would stay in warm-up, "
            f"below train.lr; set train.warmup_steps too, e.g. {train['max_steps'] // 10}"
        )
    if isinstance(cfg["targets"]["tracks"], list):
        names = [t["name"] for t in cfg["targets"]["tracks"]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"{source}: targets.tracks: duplicate track name(s) {dupes}")
    if bin_size & (bin_size - 1):
        raise ConfigError(
            f"{source}: targets.bin_size {bin_size} is not a power of two, which the "
            "models' pooling tower (halving per stage) needs; use e.g. 128"
        )


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (as in YAML 1.2), not yes/no/on/off: a
    chromosome, file or track may be called "on"; :func:`coerce_strings` still turns such
    text into a boolean where the schema wants one."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=0.001")
    key, value = item.split("=", 1)
    try:
        parsed = yaml.load(value, Loader=_Loader)
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def _apply_overrides(cfg: dict, overrides: Iterable[str]) -> None:
    for item in overrides:
        keys, value = _parse_override(item)
        node = cfg
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {k} is not a section")
        node[keys[-1]] = value


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    *,
    name: str | None = None,
) -> dict:
    """Read a YAML config (or take a dict), apply ``KEY=VALUE`` overrides and validate it.

    Parameters
    ----------
    source : path to a YAML file, a mapping, or None for all defaults.
    overrides : strings like ``"train.lr=0.001"``; values are parsed as YAML.
    name : how errors name a mapping ``source`` (default "config").
    """
    if source is None:
        cfg, name = {}, "config"
    elif isinstance(source, Mapping):
        cfg, name = copy.deepcopy(dict(source)), name or "config"
    else:
        path = Path(source)
        name = str(path)
        if path.is_dir():
            raise ConfigError(f"--config {path} is a folder; give a YAML config file")
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            cfg = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_Loader) or {}
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                "is it a config? save it as UTF-8"
            ) from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
    overrides = list(overrides)
    _apply_overrides(cfg, overrides)
    if overrides:
        name = f"{name} with --set" if source is not None else "--set"
    return validate_config(coerce_strings(cfg), source=name)


def _scalar(text: str, number: bool) -> Any:
    """``text`` read as YAML; with ``number``, also ``1e-3`` (YAML 1.1 wants ``1.0e-3``)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and number:
        try:
            return float(text)
        except ValueError:
            pass
    return value


def coerce_strings(cfg: Mapping[str, Any]) -> dict:
    """Turn string scalars into the number, boolean or null the schema asks for there.

    PyYAML reads ``lr: 1e-3`` as a string (YAML 1.1 wants ``1.0e-3``), and ``snakemake
    --config train='{max_steps: 2000}'`` reads nested values with YAML's BaseLoader, so every
    nested scalar arrives as a string (``'2000'``, ``'true'``). Where the schema wants another
    type at that key and the string parses to a value of that type, use the value. The other
    way round, a whole number where the schema wants text becomes text: Ensembl names its
    chromosomes ``1``, ``8``, ``X``, and YAML reads ``chroms: [1, 8]`` as numbers. Anything
    else is left for :func:`validate_config` to report.
    """
    cfg = copy.deepcopy(dict(cfg or {}))
    fixes = []
    for error in jsonschema.Draft202012Validator(schema()).iter_errors(cfg):
        if error.validator != "type":
            continue
        types = error.validator_value
        types = [types] if isinstance(types, str) else types
        if isinstance(error.instance, int) and not isinstance(error.instance, bool):
            if "string" in types:  # chromosome 8 (Ensembl), unquoted in YAML: "8"
                fixes.append((list(error.absolute_path), str(error.instance)))
            continue
        if not isinstance(error.instance, str):
            continue
        value = _scalar(error.instance, number="number" in types or "integer" in types)
        if not isinstance(value, str) and jsonschema.Draft202012Validator({"type": types}).is_valid(
            value
        ):
            fixes.append((list(error.absolute_path), value))
    for path, value in fixes:
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return cfg


def dump_config(cfg: Mapping[str, Any]) -> str:
    """YAML text of a config, keys in schema order, that :func:`load_config` reads back."""
    return yaml.safe_dump(dict(cfg), sort_keys=False, default_flow_style=False)


def config_digest(cfg: Mapping[str, Any] | Any) -> str:
    """A short stable hash of a config or one of its sections (for manifests and reruns)."""
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
