"""``orderkit normalize`` / ``check-mapping`` and the Tmall-to-ERP example, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orderkit.cli import main

ROOT = Path(__file__).parents[3]
FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def trades() -> list[dict[str, object]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted((FIXTURES / "tmall").glob("*.json"))]


def test_normalize_writes_one_canonical_line_per_trade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "trades.json"
    source.write_text(json.dumps(trades(), ensure_ascii=False), "utf-8")
    assert main(["normalize", "--platform", "tmall", str(source)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(trades())
    assert rows[0]["channel"] == "tmall"
    assert err == ""


def test_normalize_reads_json_lines_reports_failures_with_paths_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = trades()[:2]
    bad["orders"]["order"][0]["num"] = "two"  # type: ignore[index]
    source = tmp_path / "trades.jsonl"
    source.write_text("\n".join([json.dumps(good), json.dumps(bad), "{not json"]) + "\n")
    assert main(["normalize", "--platform", "tmall", str(source)]) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    assert "record 2: tmall orders.order[0].num: expected an integer quantity" in err
    assert "record 3: invalid JSON" in err


def test_check_mapping_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = [json.loads(p.read_text("utf-8")) for p in sorted((FIXTURES / "jd").glob("*.json"))]
    clean = tmp_path / "jd.json"
    clean.write_text(json.dumps(orders, ensure_ascii=False), "utf-8")
    assert main(["check-mapping", "--platform", "jd", str(clean)]) == 0
    orders[0]["giftWrapNote"] = "红色礼盒"
    extra = tmp_path / "jd-extra.json"
    extra.write_text(json.dumps(orders, ensure_ascii=False), "utf-8")
    assert main(["check-mapping", "--platform", "jd", str(extra)]) == 0
    assert main(["check-mapping", "--platform", "jd", "--strict", str(extra)]) == 1
    orders[1]["orderState"] = "WAIT_FOR_MARS"
    broken = tmp_path / "jd-broken.json"
    broken.write_text(json.dumps(orders, ensure_ascii=False), "utf-8")
    assert main(["check-mapping", "--platform", "jd", str(broken)]) == 1
    out, _ = capsys.readouterr()
    assert "add `WAIT_FOR_MARS` to the jd status table" in out


def test_unknown_platform_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "x.json"
    source.write_text("{}")
    assert main(["normalize", "--platform", "ebay", str(source)]) == 1
    assert "unknown platform" in capsys.readouterr().err


def test_tmall_to_erp_example_prints_canonical_lines(tmp_path: Path) -> None:
    source = tmp_path / "trades.jsonl"
    source.write_text("\n".join(json.dumps(t, ensure_ascii=False) for t in trades()), "utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tmall_to_erp.py"), str(source)],
        capture_output=True, text=True, encoding="utf-8", check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["channel_order_id"] for r in rows] == [str(t["tid"]) for t in trades()]
    assert rows[-1]["totals"]["payable"] == "328.50"


def test_tmall_to_erp_example_exits_1_when_a_trade_fails(tmp_path: Path) -> None:
    bad = trades()[0]
    bad["status"] = "WAIT_PRE_AUTH_CONFIRM"
    source = tmp_path / "trades.json"
    source.write_text(json.dumps([bad], ensure_ascii=False), "utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tmall_to_erp.py"), str(source)],
        capture_output=True, text=True, encoding="utf-8", check=False, timeout=120,
    )
    assert done.returncode == 1
    assert "trade #0: status:" in done.stderr


def test_demo_chapter_shows_one_order_per_chinese_platform_side_by_side(tmp_path: Path) -> None:
    import io
    from datetime import UTC, datetime

    from orderkit.demo import CHAPTERS, Story, chapter_mapping
    from orderkit.testing.clock import ManualClock

    assert chapter_mapping in CHAPTERS
    out = io.StringIO()
    story = Story(out, tmp_path / "demo.db", ManualClock(datetime(2026, 2, 16, tzinfo=UTC)))
    chapter_mapping(story)
    text = out.getvalue()
    rows = [line.split() for line in text.splitlines() if line.split()[:1]
            and line.split()[0] in ("tmall", "jd", "pdd", "douyin")]
    assert [row[0] for row in rows] == ["tmall", "jd", "pdd", "douyin"]
    assert rows[2][1] == "260216-418930251160325"


def test_packaged_samples_are_copies_of_test_fixtures() -> None:
    samples = ROOT / "src" / "orderkit" / "mapping" / "samples"
    fixtures = {p.read_text("utf-8") for p in FIXTURES.glob("*/*.json")}
    for sample in samples.glob("*.json"):
        assert sample.read_text("utf-8") in fixtures, sample.name


CUSTOM = Path(__file__).parents[2] / "fixtures" / "custom_maps"
YOUZAN_MAP = f"{CUSTOM / 'youzan_map.py'}:YOUZAN"


def youzan_orders(tmp_path: Path) -> Path:
    orders = [json.loads(p.read_text("utf-8")) for p in sorted((CUSTOM / "youzan").glob("*.json"))]
    source = tmp_path / "youzan.json"
    source.write_text(json.dumps(orders, ensure_ascii=False), "utf-8")
    return source


def test_check_mapping_loads_a_custom_map_from_a_python_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = youzan_orders(tmp_path)
    assert main(["check-mapping", "--map", YOUZAN_MAP, "--strict", str(source)]) == 0
    assert capsys.readouterr().out.startswith("youzan: 2/2 records mapped, 0 finding(s)")
    assert main(["normalize", "--map", YOUZAN_MAP, str(source)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["channel"] for row in rows] == ["youzan", "youzan"]


def test_check_mapping_loads_a_custom_map_from_a_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(CUSTOM))
    source = youzan_orders(tmp_path)
    assert main(["check-mapping", "--map", "youzan_map:YOUZAN", str(source)]) == 0
    assert "youzan: 2/2 records mapped" in capsys.readouterr().out


def test_platform_and_map_are_one_or_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = youzan_orders(tmp_path)
    with pytest.raises(SystemExit):
        main(["check-mapping", "--platform", "jd", "--map", YOUZAN_MAP, str(source)])
    with pytest.raises(SystemExit):
        main(["check-mapping", str(source)])
    assert "--map" in capsys.readouterr().err


def broken_map_file(tmp_path: Path) -> str:
    module = tmp_path / "broken_map.py"
    module.write_text(
        "import attrs\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('y', {str(CUSTOM / 'youzan_map.py')!r})\n"
        "youzan = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(youzan)\n"
        "BROKEN = attrs.evolve(youzan.YOUZAN, created_at=attrs.evolve(\n"
        "    youzan.YOUZAN.created_at, unit='minutes'))\n"
        "NOT_A_MAP = {'name': 'youzan'}\n",
        "utf-8")
    (tmp_path / "syntax_error.py").write_text("YOUZAN = (\n", "utf-8")
    return str(module)


@pytest.mark.parametrize(("spec", "words"), [
    ("missing_map.py:YOUZAN", ["no such file", "missing_map.py"]),
    ("no_such_module_for_orderkit:YOUZAN", ["cannot import", "no_such_module_for_orderkit"]),
    ("{dir}/syntax_error.py:YOUZAN", ["cannot import", "SyntaxError"]),
    ("{file}", ["expected MODULE:NAME or FILE.py:NAME"]),
    ("{file}:MISSING", ["has no attribute 'MISSING'"]),
    ("{file}:NOT_A_MAP", ["expected a PlatformMap, got dict"]),
    ("{file}:BROKEN", ["does not compile", "youzan.created_at", "minutes"]),
])
def test_a_map_that_cannot_be_loaded_is_one_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, words: list[str]
) -> None:
    module = broken_map_file(tmp_path)
    spec = spec.format(file=module, dir=tmp_path)
    source = youzan_orders(tmp_path)
    for command in ("check-mapping", "normalize"):
        assert main([command, "--map", spec, str(source)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("orderkit: DefinitionError: --map: "), err
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        assert spec in err
        for word in words:
            assert word in err, (word, err)
