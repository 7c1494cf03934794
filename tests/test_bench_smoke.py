"""The recall benchmark runs on a tiny chat of the REALTALK shape (tests never read ../shared) and skips cleanly."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "realtalk.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_realtalk", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chat():
    lines = [
        ("Ana", "Hey! How was your weekend?"), ("Bo", "Great, I went hiking at Mount Tam with my dog Rufus"),
        ("Ana", "Nice! I finally started my pottery class"), ("Bo", "How is the pottery going?"),
        ("Ana", "I made a lopsided blue vase"), ("Bo", "I'm planning a trip to Kyoto in April"),
    ]
    session = [{"clean_text": t, "speaker": s, "date_time": f"0{i + 1}.01.2024, 10:00:00", "dia_id": f"D1:{i + 1}"}
               for i, (s, t) in enumerate(lines)]
    return {
        "name": {"speaker_1": "Ana", "speaker_2": "Bo"},
        "session_1": session, "session_1_date_time": "01.01.2024, 10:00:00",
        "qa": [
            {"question": "What is the name of Bo's dog?", "answer": "Rufus", "evidence": ["D1:2"], "category": 1},
            {"question": "What did Ana make in pottery class?", "answer": "a vase", "evidence": ["D1:5"],
             "category": 3},
            {"question": "When is Bo going to Kyoto?", "answer": "April", "evidence": ["D1:6"], "category": 2},
        ],
    }


def test_bench_prints_table_with_baseline(tmp_path, capsys, real_embedder):
    (tmp_path / "Chat_1_Ana_Bo.json").write_text(json.dumps(_chat()))
    assert _bench().main(["--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| FTS5 BM25 baseline |" in out and "| memcli (default) |" in out
    memcli_row = next(line for line in out.splitlines() if line.startswith("| memcli (default)"))
    assert memcli_row.split("|")[2].strip() == "100.0"  # R@5: every answer is in a 6-message chat


def test_bench_skips_when_data_is_absent(tmp_path, capsys):
    assert _bench().main(["--data", str(tmp_path / "missing")]) == 0
    assert "SKIP" in capsys.readouterr().out


def test_facts_bench_skips_when_data_is_absent(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_facts", BENCH.parent / "facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--data", str(tmp_path / "missing")]) == 0
    assert "SKIP" in capsys.readouterr().out


def test_scale_bench_runs_small(real_embedder, capsys):
    """bench/scale.py end to end at toy sizes: the synthetic corpus goes through the real remember/recall paths."""
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH.parent / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--sizes", "300,600", "--queries", "5", "--anchors", "40", "--no-cli"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 300 ") or line.startswith("| 600 ")]
    assert len(rows) == 2
    first = list(module.messages(0, 3))
    assert first == list(module.messages(0, 3)) and first[0]["id"] == "m0"  # deterministic corpus


def test_postgres_bench_runs_small(real_embedder, capsys, pg_server):
    """bench/postgres.py end to end at a toy size: both engines, the exact and the HNSW variant, the scrub."""
    import sys

    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_postgres", BENCH.parent / "postgres.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--sizes", "300", "--queries", "5", "--anchors", "40"]) == 0
    out = capsys.readouterr().out
    main_table = out.split("HNSW")[0]
    assert [line.split(" | ")[1] for line in main_table.splitlines() if line.startswith("| 300 | ")] == [
        "sqlite", "postgres"]
    assert any(line.startswith("| 300 | ") and " s |" in line for line in out.split("HNSW")[1].splitlines())


def test_binary_loss_bench_runs_on_a_tiny_chat_and_skips_without_data(tmp_path, capsys, real_embedder):
    spec = importlib.util.spec_from_file_location("bench_binary_loss", BENCH.parent / "binary_loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--data", str(tmp_path / "missing")]) == 0
    assert "SKIP" in capsys.readouterr().out
    (tmp_path / "Chat_1_Ana_Bo.json").write_text(json.dumps(_chat()))
    assert module.main(["--data", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| memcli's")]
    assert len(rows) == 2 and all(line.split("|")[3].strip() == "1.000" for line in rows)  # 6 rows: all kept
