"""Build the tiny random-weight GLM used by tests, benchmarks and the CPU demo.

    python scripts/make_tiny_glm.py models/tiny-glm

See server/backends/local/tiny_model.py for what it contains and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.backends.local.tiny_model import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write the model into")
    out = parser.parse_args().out
    build(out)
    print(f"tiny GLM written to {out}")


if __name__ == "__main__":
    main()
