"""Tasks: benchmark loaders, generated families and answer checking.

    from tasks.suites import load_suite
    from tasks.check import grade
    tasks = load_suite("gsm8k", n=50)          # or "liststats", "mixed", "humaneval", ...

base.py        Task(id, prompt, answer, family, meta); format_number
jsonl.py       read_jsonl with "<path>:<line>: ..." errors (DatasetError)
sources.py     data directory ($LATENTCODE_DATA) and hub datasets
gsm8k.py, svamp.py, mawps.py, countdown.py, humaneval.py, mbpp.py   one benchmark each
codetest.py    the test harness of the code benchmarks (what it refuses, and why)
generators.py  generate(family, n, seed=, difficulty=), regenerate(task, seed)
synthetic/     one file per generated family
splits.py      split(tasks, held_out_families=, held_out_range=)
suites.py      SUITES, load_suite(name, n=, seed=, difficulty=)
check.py       final_answer, extract_number, is_correct, grade
"""
