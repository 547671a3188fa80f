"""python -m sandbox FILE|-  : run one program in the sandbox and print its Result as JSON."""
from __future__ import annotations

import argparse
import json
import sys

import sandbox


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    p.add_argument("file", help="a Python file, or - to read the program from stdin")
    p.add_argument("--timeout-s", type=float, default=2.0)
    p.add_argument("--memory-mb", type=int, default=256)
    p.add_argument("--max-output-bytes", type=int, default=65536)
    p.add_argument("--layers", action="store_true", help="also print which layers are active")
    args = p.parse_args(argv)
    if args.file == "-":
        code = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                code = f.read()
        except (OSError, UnicodeDecodeError) as e:
            print(f"python -m sandbox: cannot read {args.file}: {e}", file=sys.stderr)
            return 2
    result = sandbox.run(code, timeout_s=args.timeout_s, memory_mb=args.memory_mb,
                         max_output_bytes=args.max_output_bytes)
    out = result.to_dict()
    if args.layers:
        out["layers"] = sandbox.available_layers()
    print(json.dumps(out, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
