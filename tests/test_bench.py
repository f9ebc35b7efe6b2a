"""The benchmark: it runs at a tiny size, writes its JSON, and formats its table."""
import json

import pytest

from facelab.bench import format_table, measure_bf16_peak
from facelab.cli import main

KEYS = {"size", "task", "loop", "image_size", "batch_size", "steps_per_repeat", "seconds_per_step",
        "images_per_second", "speedup", "peak_memory_mib", "flops_per_step", "tflops", "fraction_of_peak", "times"}


def test_bench_runs_tiny_and_writes_positive_numbers(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--sizes", "tiny", "--repeats", "2", "--steps", "1", "--device", "cpu",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["peak_bf16_tflops"] is None and report["repeats"] == 2
    rows = report["results"]
    assert {(r["task"], r["loop"]) for r in rows} == {(t, l) for t in ("gan", "recognition")
                                                      for l in ("plain", "facelab")}
    for r in rows:
        assert set(r) == KEYS and r["size"] == "tiny" and len(r["times"]) == 2
        for key in ("seconds_per_step", "images_per_second", "speedup", "flops_per_step", "tflops"):
            assert r[key] > 0, key
        assert r["peak_memory_mib"] is None or r["peak_memory_mib"] >= 0
        assert r["images_per_second"] == pytest.approx(r["batch_size"] / r["seconds_per_step"])
    plain = {r["task"]: r for r in rows if r["loop"] == "plain"}
    assert all(p["speedup"] == 1.0 for p in plain.values())
    # the same models and batch: the counted FLOPs of a step do not depend on the loop
    assert len({r["flops_per_step"] for r in rows if r["task"] == "gan"}) == 1
    assert "| tiny (32px) | gan | facelab |" in capsys.readouterr().out


def test_table_shows_the_fraction_of_the_gpu_peak():
    row = dict(size="full", task="gan", loop="facelab", image_size=64, batch_size=128, images_per_second=1000.0,
               speedup=4.5, peak_memory_mib=900.0, tflops=120.0, fraction_of_peak=0.15)
    table = format_table({"device_name": "cuda (H100)", "torch": "2", "threads": 1, "repeats": 5,
                          "fast_path": "bf16", "peak_bf16_tflops": 800.0, "results": [row]})
    assert "of bf16 peak" in table and "15.0%" in table and "4.50x" in table
    assert measure_bf16_peak(__import__("torch").device("cpu")) is None


def test_unknown_size_says_which_exist():
    with pytest.raises(SystemExit, match="quick"):
        main(["bench", "--sizes", "huge"])


def test_cpu_peak_is_cores_fma_units_lanes_two_and_clock():
    from facelab.bench_ensemble import cpu_fp32_peak

    text = "processor : 0\ncpu MHz : 2000.000\nflags : fpu sse2 avx avx2 fma avx512f\n" \
           "processor : 1\ncpu MHz : 2450.000\nflags : fpu sse2 avx avx2 fma avx512f\n"
    peak = cpu_fp32_peak(threads=2, cpuinfo=text)
    assert peak["lanes"] == 16 and peak["ghz"] == 2.45
    assert peak["gflops"] == 2 * 2 * 16 * 2 * 2.45
    avx2 = cpu_fp32_peak(threads=2, fma_units=2, cpuinfo=text.replace(" avx512f", ""))
    assert avx2["lanes"] == 8 and avx2["gflops"] == pytest.approx(156.8)  # issue 17's figure for this machine
    with pytest.raises(ValueError, match="cpu MHz"):
        cpu_fp32_peak(cpuinfo="flags : avx2\n")


def test_ensemble_bench_runs_tiny_and_reports_ratios(tmp_path, capsys):
    out = tmp_path / "ens.json"
    assert main(["bench", "--ensemble", "--members", "1,2", "--cases", "toy-nonsaturating", "--scale", "0.02",
                 "--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = report["results"]
    assert {(r["members"], r["mode"]) for r in rows} == {(k, m) for k in (1, 2) for m in ("batched", "sequential")}
    for r in rows:
        assert r["steps"] == 4 and r["seconds"] > 0 and 0 < r["fraction_of_peak"] < 1
        assert r["images_per_second_per_member"] == pytest.approx(r["batch_size"] * r["steps"] / r["seconds"])
        if r["mode"] == "sequential":
            assert r["speedup_vs_sequential"] == 1.0
    assert "| toy-nonsaturating | 2 | batched |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="toy-wgan-gp"):
        main(["bench", "--ensemble", "--cases", "toy-typo"])
