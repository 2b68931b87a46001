import pytest

from genomics.config import (
    ConfigError,
    coerce_strings,
    config_digest,
    dump_config,
    load_config,
    schema,
)


def _walk(node, path=""):
    """Every property schema in the config schema, with its dotted path."""
    for key, spec in node.get("properties", {}).items():
        yield f"{path}{key}", spec
        yield from _walk(spec, f"{path}{key}.")


def test_every_key_has_type_default_description():
    s = schema()
    specs = list(_walk(s)) + list(_walk(s["$defs"]["track"], "track."))
    assert len(specs) > 20
    for path, spec in specs:
        assert "description" in spec, path
        assert "type" in spec or "enum" in spec, path
        if not path.startswith("track.") or path not in ("track.name", "track.path"):
            assert "default" in spec, path


def test_defaults_fill_everything():
    cfg = load_config()
    assert cfg["targets"]["bin_size"] == 128
    assert cfg["windows"]["split"]["valid"]


def test_yaml_roundtrip(tmp_path):
    cfg = load_config(overrides=["windows.length=4096", "seed=3"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(cfg))
    again = load_config(path)
    assert again == cfg
    assert config_digest(again) == config_digest(cfg)


def test_unknown_key_names_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("windows:\n  lenght: 5\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml: windows: unknown key\(s\) 'lenght'; allowed: .*length"
    ):
        load_config(path)


def test_unknown_top_level_section():
    with pytest.raises(ConfigError, match=r"\(top level\): unknown key\(s\) 'windowz'"):
        load_config({"windowz": {}})


def test_wrong_type():
    with pytest.raises(ConfigError, match="windows.length: 'long' is not of type 'integer'"):
        load_config(overrides=["windows.length=long"])


def test_coerce_strings_types_what_snakemake_config_hands_over_as_strings():
    given = {
        "seed": 3,
        "train": {"max_steps": "2000", "lr": "1e-3", "compile": "true", "eval_batches": "null"},
        "model": {"convformer": {"qk_norm": "false"}},
        "windows": {"split": {"test": ["chr4"]}},
    }
    cfg = load_config(coerce_strings(given))
    assert cfg["train"]["max_steps"] == 2000 and cfg["train"]["lr"] == 1e-3
    assert cfg["train"]["compile"] is True and cfg["train"]["eval_batches"] is None
    assert cfg["model"]["convformer"]["qk_norm"] is False
    assert cfg["windows"]["split"]["test"] == ["chr4"]
    assert given["train"]["max_steps"] == "2000"  # the input is not modified
    assert load_config(overrides=["train.lr=1e-3"])["train"]["lr"] == 1e-3  # not '1e-3'
    # a string that is not the wanted type stays a string, and validation names it
    with pytest.raises(ConfigError, match="train.max_steps: 'lots' is not of type 'integer'"):
        load_config(coerce_strings({"train": {"max_steps": "lots"}}))


def test_set_yes_no_on_off_stay_text_unless_a_boolean_is_wanted():
    # YAML 1.1 would make these booleans, and a string key would then fail validation
    assert load_config(overrides=["genome.fasta=on"])["genome"]["fasta"] == "on"
    assert load_config(overrides=["windows.split.test=[no]"])["windows"]["split"]["test"] == ["no"]
    for text, value in [("yes", True), ("off", False), ("true", True), ("False", False)]:
        assert load_config(overrides=[f"train.compile={text}"])["train"]["compile"] is value


def test_window_not_multiple_of_bin():
    with pytest.raises(
        ConfigError, match="windows.length 1000 is not a multiple of targets.bin_size 128"
    ):
        load_config(overrides=["windows.length=1000"])


def test_crop_too_large():
    with pytest.raises(ConfigError, match="crop_bins 4 leaves no bins"):
        load_config(overrides=["windows.length=1024", "windows.crop_bins=4"])


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(overrides=["windows.length"])


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_shipped_configs_validate():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs, "no configs shipped"
    for path in configs:
        load_config(path)


def test_unquoted_ensembl_chromosome_numbers_are_names():
    cfg = load_config(overrides=["genome.chroms=[1, 8, X]", "windows.split.test=[8]"])
    assert cfg["genome"]["chroms"] == ["1", "8", "X"]
    assert cfg["windows"]["split"]["test"] == ["8"]


def test_whole_number_floats_become_ints_and_set_errors_say_so(tmp_path):
    cfg = load_config(overrides=["train.batch_size=2.0", "windows.length=1.6384e4"])
    assert cfg["train"]["batch_size"] == 2 and type(cfg["train"]["batch_size"]) is int
    assert cfg["windows"]["length"] == 16384 and type(cfg["windows"]["length"]) is int
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml with --set: train\.batch_size: 2\.5 is not"):
        load_config(path, ["train.batch_size=2.5"])
    with pytest.raises(ConfigError, match=r"^--set: train\.batch_size"):
        load_config(None, ["train.batch_size=2.5"])


def test_stage_inputs_lists_track_files_and_refuses_missing_ones(tmp_path, monkeypatch):
    from genomics.stage_inputs import stage_inputs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ref.fa").write_text(">chr1\nACGT\n")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.bw").write_bytes(b"x")
    (tmp_path / "t" / "tracks.tsv").write_text("name\tpath\na\ta.bw\n")
    cfg = load_config(overrides=["genome.fasta=ref.fa", "targets.tracks=t/tracks.tsv"])
    assert stage_inputs(cfg) == {
        "genome": ["ref.fa"],
        "targets": ["t/tracks.tsv", "t/a.bw"],
        "windows": [],
        "predict": [],
        "classes": [],
    }
    # files the workflow makes itself (the synthetic default) need not exist yet
    assert stage_inputs(load_config())["targets"] == ["results/sim/tracks.tsv"]
    with pytest.raises(FileNotFoundError, match=r"genome\.fasta: nope\.fa does not exist"):
        stage_inputs(load_config(overrides=["genome.fasta=nope.fa"]))
    (tmp_path / "t" / "tracks.tsv").write_text("name\tpath\na\ta.bw\nb\tb.bw\n")
    with pytest.raises(FileNotFoundError, match=r"a track of t/tracks\.tsv: t/b\.bw does not"):
        stage_inputs(cfg)
    (tmp_path / "t" / "tracks.tsv").write_text("name\tpath\na\ta.bw\n")
    with pytest.raises(FileNotFoundError, match=r"windows\.blacklist: bl\.bed does not exist"):
        stage_inputs({**cfg, "windows": {**cfg["windows"], "blacklist": "bl.bed"}})
    with pytest.raises(FileNotFoundError, match=r"predict\.regions: r\.bed does not exist"):
        stage_inputs({**cfg, "predict": {**cfg["predict"], "regions": "r.bed"}})


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["train.max_steps=4", "train.warmup_steps=50"], r"warmup_steps 50 is not below .*max"),
        (["windows.length=16384", "augment.shift_bins=128"], r"shift_bins 128 is not below"),
        (["seed=100000000000000000"], r"seed: .* is greater than the maximum of 4294967295"),
    ],
)
def test_settings_that_would_silently_train_something_else(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=overrides)
    load_config(overrides=["train.max_steps=4", "train.warmup_steps=0"])  # no warm-up: fine
