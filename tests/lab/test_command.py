"""`smsengine experiment list|run` on the command line: the shipped scenarios listed, a bad
scenario or variant refused in one line before anything starts."""

from __future__ import annotations

from smsengine.cli import main

from .conftest import SHIPPED


def test_list_shows_each_shipped_scenario_with_its_variants_and_description(capsys):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out
    assert "retry-in-place" in out and "Ideal carriers, mixed traffic" in out


def test_a_bad_scenario_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('seed = 1\n[traffic]\nrate = "fast"\n[carriers.a]\n')
    assert main(["experiment", "run", str(bad), "--quick", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"smsengine: {bad}: traffic.rate: Expected `float`, got `str`"
    assert not (tmp_path / "out").exists()


def test_an_unknown_variant_is_refused(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text("[carriers.a]\n[variants.one]\n[variants.two]\n")
    assert main(["experiment", "run", str(path), "--variant", "three", "--out", str(tmp_path / "out")]) == 1
    assert "variants: no variant 'three' (known: one, two)" in capsys.readouterr().err


def test_a_key_the_simulators_refuse_stops_the_run_naming_the_carrier(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text("[carriers.a]\nsimulator = { windoww = 3 }\n[quick]\ntraffic = { messages = 10 }\n")
    assert main(["experiment", "run", str(path), "--quick", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "unknown field `windoww` (carriers.a.simulator)" in err and err.count("\n") == 1
