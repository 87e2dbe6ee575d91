"""What the serving image's Dockerfile copies from the repository, read with dockerfile-parse (the
parser Red Hat's build system uses). The Docker-less image test replays these copies, and
`loraplane image build` uploads exactly these files as CodeBuild's source."""
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "gpu_container" / "Dockerfile"


class UnsupportedCopy(ValueError):
    """A COPY/ADD the replay cannot reproduce (URLs, globs, other stages): keep the Dockerfile simple."""


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]  # repository-relative
    destination: PurePosixPath  # absolute, WORKDIR applied
    into_directory: bool  # Docker's rule: a destination ending in "/" (or several sources) is a folder

    def targets(self, root: Path = REPO) -> list[tuple[str, PurePosixPath]]:
        """(source, where it lands). Docker copies a folder's contents into the destination itself,
        and a file into a destination folder under its own name."""
        return [(s, self.destination / PurePosixPath(s).name
                 if self.into_directory and (root / s).is_file() else self.destination) for s in self.sources]


def copies(dockerfile: Path = DOCKERFILE) -> list[Copy]:
    """Every COPY of the build context, in order, with its destination resolved against WORKDIR."""
    parser = DockerfileParser(str(dockerfile))
    workdir, found = PurePosixPath("/"), []
    for instruction in parser.structure:
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "WORKDIR":
            workdir = workdir / value
        elif kind in ("COPY", "ADD"):
            words = [w for w in shlex.split(value) if not w.startswith("--")]
            if kind == "ADD" or any(w.startswith("--from") for w in shlex.split(value)):
                raise UnsupportedCopy(f"line {instruction['startline'] + 1}: use a plain COPY of the build context")
            *sources, dest = words
            if any(ch in s for s in sources for ch in "*?[") or any(s.startswith(("/", "..")) for s in sources):
                raise UnsupportedCopy(f"line {instruction['startline'] + 1}: copy named repository paths only")
            found.append(Copy(tuple(sources), workdir / dest, dest.endswith("/") or len(sources) > 1))
    return found


def install_dir(dockerfile: Path = DOCKERFILE) -> PurePosixPath:
    """The WORKDIR in effect where the Dockerfile pip-installs our package."""
    workdir = PurePosixPath("/")
    for instruction in DockerfileParser(str(dockerfile)).structure:
        if instruction["instruction"] == "WORKDIR":
            workdir = workdir / instruction["value"]
        elif instruction["instruction"] == "RUN" and "pip install" in instruction["value"]:
            return workdir
    raise UnsupportedCopy("the Dockerfile never runs pip install")


def context_files(dockerfile: Path = DOCKERFILE, root: Path = REPO) -> list[Path]:
    """The repository files the image is built from (the Dockerfile included), sorted."""
    files = {dockerfile.resolve()}
    for copy in copies(dockerfile):
        for source in copy.sources:
            path = root / source
            if not path.exists():
                raise UnsupportedCopy(f"{source}: not in the repository")
            files |= {p.resolve() for p in ([path] if path.is_file() else path.rglob("*"))
                      if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    return sorted(files)
