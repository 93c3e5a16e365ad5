"""Weights for an air gap: fetch them on the connected side, prove them whole on the other.

    glm-serve download glm-4.7-fp8 --to /media/usb/GLM-4.7-FP8     (connected side)
    glm-serve verify /data/GLM-4.7-FP8                             (air-gapped side)

`download` fetches a repository with huggingface_hub (progress bars; an interrupted run resumes where it
stopped) and writes MANIFEST beside the files: the repository, its revision, and every file's size and
sha256. `verify` checks a copied directory against it: a file missing, changed (size or digest) or not in
the manifest at all is reported, one line each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "glm-serve-manifest.json"
_SKIP = {MANIFEST, ".cache"}  # huggingface_hub keeps its download state in .cache/


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # "missing", "changed" or "extra"
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and relative.parts[0] not in _SKIP:
            yield path


def digest(path: Path, progress: Callable[[int], None] | None = None) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
            if progress is not None:
                progress(len(block))
    return sha.hexdigest()


def write(
    directory: Path, repo: str, revision: str | None, progress: Callable[[int], None] | None = None
) -> Path:
    """Describe every file under `directory` in its manifest; returns the manifest's path."""
    files = {
        str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": digest(p, progress)}
        for p in _files(directory)
    }
    path = directory / MANIFEST
    path.write_text(json.dumps({"repo": repo, "revision": revision, "files": files}, indent=1) + "\n")
    return path


def verify(
    directory: Path, progress: Callable[[int], None] | None = None, *, hashes: bool = True
) -> list[Problem]:
    """What differs between `directory` and its manifest (nothing: the copy is whole). Without `hashes`,
    only presence and sizes are compared (seconds instead of an hour for hundreds of GB)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{directory / MANIFEST} is missing or unreadable: {exc}") from exc
    problems = []
    present = {str(p.relative_to(directory)): p for p in _files(directory)}
    for name, expected in sorted(manifest.items()):
        path = present.get(name)
        if path is None:
            problems.append(Problem("missing", name))
        elif path.stat().st_size != expected["size"]:
            problems.append(
                Problem("changed", name, f"{path.stat().st_size} bytes, expected {expected['size']}")
            )
        elif hashes and digest(path, progress) != expected["sha256"]:
            problems.append(Problem("changed", name, "sha256 differs"))
    problems += [
        Problem("extra", name, "not in the manifest") for name in sorted(set(present) - set(manifest))
    ]
    return problems


def download(repo: str, to: Path, revision: str | None = None) -> Path:
    """Fetch `repo` into `to` (resuming a partial download) and write its manifest."""
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(repo, revision=revision)
    snapshot_download(repo, revision=info.sha, local_dir=to)
    return write(to, repo, info.sha)
