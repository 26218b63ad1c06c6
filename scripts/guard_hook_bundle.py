"""The one object a Guard Hook's RuleLocation names: a zip of every ``guard-rules/*.guard``.

A Guard Hook reads a single S3 object (a ``.guard`` file or a ``.zip``/``.tar.gz`` bundle), not a
prefix, so ``scripts/deploy-hooks.sh`` uploads this bundle. It is byte-for-byte reproducible (fixed
timestamps and permissions, sorted members), so an unchanged rule set gives an identical object and
its SHA-256 identifies the rules a hook version runs. Rule tests (``guard-rules/tests/``) stay out.

    python -m scripts.guard_hook_bundle --out build/guard-rules.zip [--rules guard-rules]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Standard library only: scripts/deploy-hooks.sh runs this with any python3.
RULES_DIR = Path(__file__).resolve().parent.parent / "guard-rules"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip can hold


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    rules: tuple[str, ...]


def bundle_bytes(rules: Sequence[Path]) -> bytes:
    """A reproducible zip of the rule files, each stored under its own file name."""
    names = [rule.name for rule in rules]
    if not rules:
        raise ValueError("no rule files to bundle")
    if len(set(names)) != len(names):
        raise ValueError(f"two rule files share a name: {sorted(names)}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rule in sorted(rules, key=lambda path: path.name):
            member = zipfile.ZipInfo(rule.name, date_time=_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o100644 << 16
            archive.writestr(member, rule.read_bytes())
    return buffer.getvalue()


def build(out: Path, rules_dir: Path = RULES_DIR) -> Bundle:
    rules = sorted(rules_dir.glob("*.guard"))
    content = bundle_bytes(rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    return Bundle(out, hashlib.sha256(content).hexdigest(), tuple(sorted(rule.name for rule in rules)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="the .zip to write")
    parser.add_argument("--rules", type=Path, default=RULES_DIR, help="folder of *.guard files")
    args = parser.parse_args(argv)
    if args.out.suffix != ".zip":
        print(f"--out must name a .zip file, not {args.out}", file=sys.stderr)
        return 2
    try:
        bundle = build(args.out, args.rules)
    except ValueError as error:
        print(f"guard_hook_bundle: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"path": str(bundle.path), "sha256": bundle.sha256, "rules": list(bundle.rules)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
