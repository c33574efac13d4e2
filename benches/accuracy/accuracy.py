"""Forecast-accuracy benchmark, Python side: prepare data, fit baselines, write the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from baselines import run_baselines
from data import default_source, prepare
from report import write_report


def main() -> None:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="resample series and write origins.csv")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--source", type=Path, default=default_source(), help="shared data folder")
    p.add_argument("--quick", action="store_true", help="only the last 2 origins per series")
    b = sub.add_parser("baselines", help="statsmodels and seasonal naive forecasts")
    b.add_argument("--data", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="score forecasts and write Markdown")
    r.add_argument("--forecasts", type=Path, nargs="+", required=True)
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.source, args.out, args.quick)
    elif args.command == "baselines":
        run_baselines(args.data, args.out)
    else:
        write_report(args.forecasts, args.data, args.out)


if __name__ == "__main__":
    main()
