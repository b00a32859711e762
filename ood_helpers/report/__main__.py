"""``python -m ood_helpers.report build --profile quick``: writes report.md / report.html / report_cells.csv
into figures/<profile>/; ``... readme --profile quick``: rewrites the README's recorded-quick section."""

from __future__ import annotations

import argparse
import sys

from ood_helpers.core.profile import PROFILES
from ood_helpers.report.build import build
from ood_helpers.report.export import write
from ood_helpers.report.readme import update_readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ood_helpers.report", description=__doc__)
    parser.add_argument("command", choices=("build", "readme"), help="build: the report files; readme: the README section")
    parser.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} (default quick)")
    parser.add_argument("--readme", default=None, help="the README to rewrite (default the repository's README.md)")
    args = parser.parse_args(argv)
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; known profiles: {', '.join(PROFILES)}")
    if args.command == "build":
        report = build(args.profile)
        for kind, path in write(report).items():
            print(f"{kind}: {path}")
        print(f"missing tables: {', '.join(report.missing()) or 'none'}")
    else:
        print(f"rewrote {update_readme(args.profile, args.readme)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
