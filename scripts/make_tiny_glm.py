"""Build the tiny random-weight GLM used by tests, benchmarks and the CPU demo.

    python scripts/make_tiny_glm.py [DIR] [--arch glm4_moe]
    python scripts/make_tiny_glm.py --arch glm4v_moe     (beside the demo model)

See server/backends/local/tiny_model.py for what it contains and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.backends.local.tiny_archs import ARCHS
from server.backends.local.tiny_model import build, tiny_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="directory to write the model into")
    parser.add_argument(
        "--arch",
        choices=list(ARCHS),
        default="glm4_moe",
        help="; ".join(f"{k}: {a.architecture} ({a.releases})" for k, a in ARCHS.items()),
    )
    args = parser.parse_args()
    out = args.out or tiny_dir(args.arch)
    build(out, args.arch)
    print(f"tiny {ARCHS[args.arch].architecture} written to {out}")


if __name__ == "__main__":
    main()
