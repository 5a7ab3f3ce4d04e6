"""Environment specs (conda file, requirements.txt, image) -> an image's pip requirements and warnings."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from components.base_images import as_written, by_tag, choose_base, default_base, wanted_minor

DEFAULT_BASE_IMAGE = default_base().tag
IMAGE_PYTHON = default_base().python
IMAGE_REPOSITORY = "mlendpoints/serving"
SERVING_ROOT = Path(__file__).resolve().parent.parent / "serving"

# Conda package names whose PyPI name differs.
CONDA_TO_PYPI: Mapping[str, str] = MappingProxyType(
    {
        "pytorch": "torch",
        "pytorch-cpu": "torch",
        "py-xgboost": "xgboost",
        "py-xgboost-cpu": "xgboost",
        "py-opencv": "opencv-python-headless",
        "opencv": "opencv-python-headless",
        "matplotlib-base": "matplotlib",
        "msgpack-python": "msgpack",
        "pytables": "tables",
        "ruamel_yaml": "ruamel.yaml",
        "sklearn": "scikit-learn",
        "tensorflow-cpu": "tensorflow-cpu",
        "pyarrow-core": "pyarrow",
        "lightgbm-cpu": "lightgbm",
    }
)
# Conda packages with no pip equivalent: system libraries, toolchains and conda's own plumbing.
CONDA_ONLY = frozenset(
    {
        "_libgcc_mutex",
        "_openmp_mutex",
        "blas",
        "bzip2",
        "ca-certificates",
        "cpuonly",
        "cudatoolkit",
        "cudnn",
        "intel-openmp",
        "ld_impl_linux-64",
        "libblas",
        "libcblas",
        "libffi",
        "libgcc-ng",
        "libgfortran-ng",
        "libgomp",
        "liblapack",
        "libopenblas",
        "libopencv",
        "libstdcxx-ng",
        "libuuid",
        "mkl",
        "mkl-service",
        "mkl_fft",
        "mkl_random",
        "nccl",
        "ncurses",
        "nomkl",
        "openblas",
        "openmpi",
        "openssl",
        "readline",
        "sqlite",
        "tk",
        "tzdata",
        "xz",
        "yaml",
        "zlib",
    }
)
# Installing these would be redundant or harmful in the image's venv.
_TOOLING = frozenset({"pip", "setuptools", "wheel"})
# What the mlendpoints scorer provides in their place.
_SERVER_PACKAGES = frozenset({"azureml-inference-server-http", "azureml-defaults"})
RUNTIME_INFERENCE_SCHEMA = "inference-schema"
_SCHEMA_EXTRAS: Mapping[str, str] = MappingProxyType(
    {"numpy-support": "numpy", "pandas-support": "pandas", "pyspark-support": "pyspark"}
)
_AZUREML_IMAGE_PREFIXES = ("mcr.microsoft.com/azureml/", "mcr.microsoft.com/mlops/", "azureml/")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_CONDA_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


class EnvironmentMappingError(ValueError):
    """An environment that cannot be turned into an image; the message names the file and entry."""


@dataclass(frozen=True)
class EnvironmentPlan:
    """What an image for one environment contains on top of the serving runtime."""

    requirements: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    base_image: str = DEFAULT_BASE_IMAGE
    python_version: str = IMAGE_PYTHON
    sources: tuple[str, ...] = field(default=(), compare=False)
    # Project (canonical name) -> where the user wrote it ("file:line: text"), for pip's errors.
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def origin(self, project: str) -> str | None:
        return dict(self.origins).get(canonical_name(project))


_DEPENDENCY_LINE = re.compile(r"^\s*(?:-\s*)?(?:[A-Za-z0-9_.-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_origins(texts: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Where each project was first written, from (label, file text) pairs: `conda.yaml:9: - numpy=1.26`."""
    found: dict[str, str] = {}
    for label, text in texts:
        for number, line in enumerate(text.splitlines(), start=1):
            matched = _DEPENDENCY_LINE.match(line)
            if not matched or line.lstrip().startswith("#") or line.rstrip().endswith(":"):
                continue
            name = matched.group(1)
            project = canonical_name(CONDA_TO_PYPI.get(name.lower(), name))
            found.setdefault(project, f"{label}:{number}: {line.strip()}")
    return tuple(sorted(found.items()))


def canonical_name(name: str) -> str:
    """PEP 503 normalization: `Scikit_Learn` and `scikit-learn` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def plan_environment(
    *,
    conda_file: Path | Mapping[str, Any] | None = None,
    requirements_file: Path | None = None,
    image: str | None = None,
    base_image: str = DEFAULT_BASE_IMAGE,
) -> EnvironmentPlan:
    """The requirements (pip lines) and warnings for a conda file and/or a requirements.txt on `image`."""
    requirements: list[str] = []
    warnings: list[str] = []
    sources: list[str] = []
    texts: list[tuple[str, str]] = []
    chosen_base, image_warnings = base_image_for(image, base_image)
    warnings.extend(image_warnings)
    python_version = IMAGE_PYTHON
    if conda_file is not None:
        label = str(conda_file) if isinstance(conda_file, Path) else "inline conda_file"
        document = _read_yaml(conda_file) if isinstance(conda_file, Path) else dict(conda_file)
        found, notes = conda_requirements(document, label)
        requirements.extend(found)
        warnings.extend(notes)
        sources.append(label)
        if isinstance(conda_file, Path):
            texts.append((label, _read_text(conda_file, "conda file")))
        wanted = conda_python(document)
        if wanted is not None:
            where = _line_of(requirement_origins(texts), "python") or label
            chosen_base, python_version, note = _python_base(wanted, where, chosen_base, base_image)
            if note:
                warnings.append(note)
    if requirements_file is not None:
        label = str(requirements_file)
        text = _read_text(requirements_file, "requirements file")
        found, notes = pip_requirements(text.splitlines(), label)
        requirements.extend(found)
        warnings.extend(notes)
        sources.append(label)
        texts.append((label, text))
    merged, notes = _finish(requirements)
    warnings.extend(notes)
    return EnvironmentPlan(
        tuple(merged),
        tuple(warnings),
        chosen_base,
        python_version,
        tuple(sources),
        requirement_origins(texts),
    )


def plan_props(plan: EnvironmentPlan) -> dict[str, Any]:
    """What an image resource keeps of a plan (its provider rebuilds the plan from it: plan_from_props)."""
    return {
        "requirements": list(plan.requirements),
        "base_image": plan.base_image,
        "python_version": plan.python_version,
        # Where each requirement was written, so that pip's failures name the user's file and line.
        "origins": dict(plan.origins),
    }


def plan_from_props(props: Mapping[str, Any]) -> EnvironmentPlan:
    """The plan an image resource's props describe (state written before python_version: its base's)."""
    base = str(props["base_image"])
    known = by_tag(base)
    return EnvironmentPlan(
        requirements=tuple(props.get("requirements") or ()),
        base_image=base,
        python_version=str(props.get("python_version") or (known.python if known else IMAGE_PYTHON)),
        origins=tuple(sorted((props.get("origins") or {}).items())),
    )


def conda_python(document: Mapping[str, Any]) -> str | None:
    """The version spec of a conda file's `python` dependency (`3.12`, `==3.8.5`, `>=3.8`), if any."""
    for entry in document.get("dependencies") or []:
        if isinstance(entry, str):
            spec = _conda_spec(entry)
            if spec is not None and spec[0].lower() == "python":
                return spec[1].split(" ")[0] or None
    return None


def _python_base(wanted: str, where: str, chosen: str, default: str) -> tuple[str, str, str | None]:
    """(base image, its Python, a warning) for a conda file's python on the image chosen so far.

    The project's own default base follows the conda file (components/base_images.py); a base the user
    or the target named is kept, and only an explicit other Python is pointed out."""
    if chosen == default and by_tag(default) is not None:
        choice = choose_base(wanted, where)
        return choice.base.tag, choice.base.python, choice.warning
    base = by_tag(chosen)
    minor = wanted_minor(wanted)
    python = base.python if base is not None else (minor or IMAGE_PYTHON)
    note = None
    if base is not None and minor is not None and minor != base.python:
        note = (
            f"{where}: {as_written(wanted)} cannot be honoured: {chosen} has Python {base.python}; "
            "packages are installed for it"
        )
    elif base is None and minor is not None and minor != IMAGE_PYTHON:
        note = f"{where}: {as_written(wanted)}: the image {chosen} must provide Python {minor} with venv"
    return chosen, python, note


def _line_of(origins: tuple[tuple[str, str], ...], project: str) -> str | None:
    """`conda.yaml:5` from an origin `conda.yaml:5: - python=3.12`."""
    origin = dict(origins).get(project)
    matched = re.match(r"^(.*:\d+): ", origin or "")
    return matched.group(1) if matched else None


def plan_for_spec(environment: Any, *, base_image: str = DEFAULT_BASE_IMAGE) -> EnvironmentPlan:
    """An EnvironmentSpec-like object (attributes image, conda_file, build, reference) -> its plan."""
    if getattr(environment, "reference", None):
        raise EnvironmentMappingError(
            f"environment {environment.reference!r} is registered on Azure ML; the local and Kubernetes "
            "targets need it inline: `environment: {image: ..., conda_file: ./conda.yaml}`"
        )
    if getattr(environment, "build", None) is not None:
        raise EnvironmentMappingError(
            "environment.build (a Docker build context) is built as-is by the target, not from a conda file"
        )
    return plan_environment(
        conda_file=getattr(environment, "conda_file", None),
        requirements_file=getattr(environment, "requirements_file", None),
        image=getattr(environment, "image", None),
        base_image=base_image,
    )


def base_image_for(image: str | None, default: str = DEFAULT_BASE_IMAGE) -> tuple[str, list[str]]:
    """Azure ML's own base images are replaced by the local base; any other image is used as the base."""
    if not image or image == default:
        return default, []
    if image.startswith(_AZUREML_IMAGE_PREFIXES):
        return default, [
            f"image {image}: Azure ML base images are not reachable here; using the mlendpoints base image "
            f"({default}, or the one for the conda file's Python) with the mlendpoints scorer instead"
        ]
    return image, [f"image {image}: used as the base; it must provide python3 with venv"]


def conda_requirements(document: Mapping[str, Any], label: str) -> tuple[list[str], list[str]]:
    """A conda environment document's dependencies as pip requirement lines, plus warnings."""
    requirements: list[str] = []
    warnings: list[str] = []
    if not isinstance(document, Mapping):
        raise EnvironmentMappingError(f"{label}: a conda file must be a mapping with `dependencies`")
    dependencies = document.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise EnvironmentMappingError(f"{label}: `dependencies` must be a list")
    if document.get("variables"):
        warnings.append(f"{label}: `variables` are not applied; set them as deployment environment_variables")
    for entry in dependencies:
        if isinstance(entry, Mapping):
            for key, value in entry.items():
                if key == "pip" and isinstance(value, list):
                    found, notes = pip_requirements([str(line) for line in value], f"{label} (pip)")
                    requirements.extend(found)
                    warnings.extend(notes)
                else:
                    warnings.append(f"{label}: dependency section {key!r} is not supported and is skipped")
        elif isinstance(entry, str):
            found_one, note = conda_dependency(entry, label)
            if found_one:
                requirements.append(found_one)
            if note:
                warnings.append(note)
        else:
            warnings.append(f"{label}: dependency {entry!r} is neither text nor a pip section; skipped")
    return requirements, warnings


def conda_dependency(entry: str, label: str) -> tuple[str | None, str | None]:
    """One conda match spec (`numpy=1.26`, `conda-forge::scipy>=1.10`, `numpy 1.26.*`) -> a pip line."""
    spec = _conda_spec(entry)
    if spec is None:
        return None, f"{label}: cannot read conda dependency {entry!r}; skipped"
    name, version = spec
    lowered = name.lower()
    if lowered == "python":  # chooses the base image (plan_environment), not a package
        return None, None
    if lowered in _TOOLING:
        return None, None
    if lowered in CONDA_ONLY:
        return None, f"{label}: {name} is a conda-only package (no pip equivalent); skipped"
    pip_name = CONDA_TO_PYPI.get(lowered, name)
    pip_version, note = _conda_version(version)
    if pip_name != name:
        note = (note + "; " if note else "") + f"conda package {name} installed as {pip_name} from PyPI"
    if pip_version and pip_version[0] not in "=<>!~":
        pip_version = "==" + pip_version
    line = f"{pip_name}{pip_version}"
    return line, (f"{label}: {entry.strip()}: {note}" if note else None)


def pip_requirements(lines: Iterable[str], label: str) -> tuple[list[str], list[str]]:
    """requirements.txt / conda pip lines, minus what the scorer provides and what cannot be fetched."""
    requirements: list[str] = []
    warnings: list[str] = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            warnings.append(
                f"{label}: pip option {line!r} is not supported (only PyPI is reachable); skipped"
            )
            continue
        if "://" in line or line.startswith((".", "/")) or " @ " in line:
            warnings.append(f"{label}: {line!r} is not a PyPI requirement; only PyPI is reachable, skipped")
            continue
        matched = _NAME.match(line)
        if not matched:
            warnings.append(f"{label}: cannot read requirement {line!r}; skipped")
            continue
        name, extras, rest = matched.group(1), matched.group(2) or "", matched.group(3).strip()
        canonical = canonical_name(name)
        if canonical in _SERVER_PACKAGES:
            warnings.append(
                f"{label}: {line} is not installed: the mlendpoints scorer serves score.py with the same "
                "routes and provides its AMLRequest/AMLResponse/rawhttp imports"
            )
            continue
        if canonical == RUNTIME_INFERENCE_SCHEMA:
            if rest:
                warnings.append(f"{label}: {line}: the runtime's pinned inference-schema is used instead")
            for extra in _extras(extras):
                dependency = _SCHEMA_EXTRAS.get(extra)
                if dependency:
                    requirements.append(dependency)
            continue
        requirements.append(f"{name}{extras}{rest}")
    return requirements, warnings


def runtime_requirements_file(serving_root: Path = SERVING_ROOT, python_version: str = IMAGE_PYTHON) -> Path:
    """serving/requirements-pyXY.txt where the runtime pins differ for that Python, else requirements.txt."""
    own = serving_root / f"requirements-py{python_version.replace('.', '')}.txt"
    return own if own.is_file() else serving_root / "requirements.txt"


def runtime_requirements(serving_root: Path = SERVING_ROOT, python_version: str = IMAGE_PYTHON) -> list[str]:
    """The serving runtime's own pinned requirement lines for an image's Python."""
    lines = runtime_requirements_file(serving_root, python_version).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def image_tag(
    plan: EnvironmentPlan, serving_root: Path = SERVING_ROOT, repository: str = IMAGE_REPOSITORY
) -> str:
    """`mlendpoints/serving:<hash>` of the runtime sources, its requirements, the Dockerfile and the plan."""
    digest = hashlib.sha256()
    for path in runtime_files(serving_root):
        digest.update(str(path.relative_to(serving_root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(("\n".join(plan.requirements) + "\n").encode())
    digest.update(f"base={plan.base_image}\npython={plan.python_version}\n".encode())
    return f"{repository}:{digest.hexdigest()[:24]}"


def runtime_files(serving_root: Path = SERVING_ROOT) -> list[Path]:
    """Every file that goes into the image from serving/, in a stable order (caches excluded)."""
    files = [
        path
        for path in serving_root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    ]
    return sorted(files, key=lambda path: str(path.relative_to(serving_root)))


def _finish(requirements: Sequence[str]) -> tuple[list[str], list[str]]:
    """One line per project: a constrained line beats a bare name; of two constraints the first stays."""
    kept: dict[str, str] = {}
    warnings: list[str] = []
    for line in requirements:
        key = _project(line)
        previous = kept.get(key)
        if previous is None or _is_bare(previous):
            kept[key] = line
        elif line != previous and not _is_bare(line):
            warnings.append(f"{line!r} and {previous!r} name the same project; keeping {previous!r}")
    return list(kept.values()), warnings


def requirement_name(line: str) -> str:
    """The project a requirement line names, as written (`scikit-learn` of `scikit-learn==1.2; ...`)."""
    matched = _NAME.match(line)
    return matched.group(1) if matched else line.strip()


def _project(line: str) -> str:
    matched = _NAME.match(line)
    return canonical_name(matched.group(1)) if matched else line


def _is_bare(line: str) -> bool:
    matched = _NAME.match(line)
    return matched is not None and not matched.group(2) and not matched.group(3).strip()


def _conda_version(version: str) -> tuple[str, str]:
    """Conda's `=1.2` means 1.2.*, `==1.2` is exact, `1.2.*` and ranges carry over; build strings drop."""
    version = version.strip()
    if not version or version == "*":
        return "", ""
    note = ""
    if "|" in version:
        return (
            "",
            f"version {version!r} (an 'or' of versions) cannot be expressed for pip; installed unpinned",
        )
    if version.startswith("=") and not version.startswith("=="):
        parts = version[1:].split("=")
        if len(parts) > 1:
            note = f"build string {parts[1]!r} ignored"
        return ("" if parts[0] in ("", "*") else _fuzzy(parts[0])), note
    if version.startswith("=="):
        parts = version[2:].split("=")
        if len(parts) > 1:
            note = f"build string {parts[1]!r} ignored"
        return "==" + parts[0], note
    if " " in version:
        pieces = version.split()
        if len(pieces) > 1:
            note = f"build string {pieces[1]!r} ignored"
        version = pieces[0]
    if version[0] in "<>!~":
        return version, note
    return _fuzzy(version), note


def _fuzzy(version: str) -> str:
    # conda `numpy=1.26` matches 1.26.x; three-part versions are exact pins in practice
    if version.endswith("*"):
        return "==" + version
    if version.count(".") >= 2:
        return "==" + version
    return "==" + version + ".*"


def _conda_spec(entry: str) -> tuple[str, str] | None:
    """(name, version text) of a conda match spec, its channel prefix (`conda-forge::`) dropped."""
    matched = _CONDA_SPEC.match(entry.strip().split("::")[-1].strip())
    return (matched.group(1), matched.group(2).strip()) if matched else None


def _extras(extras: str) -> list[str]:
    return [extra.strip().lower() for extra in extras.strip("[]").split(",") if extra.strip()]


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as ex:
        raise EnvironmentMappingError(
            f"{path}: the {what} is not a UTF-8 text file ({ex.reason} at byte {ex.start})"
        ) from None
    except (OSError, ValueError) as ex:  # ValueError: a NUL character in the path
        reason = ex.strerror if isinstance(ex, OSError) and ex.strerror else str(ex)
        raise EnvironmentMappingError(f"{path}: cannot read the {what}: {reason}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path, "conda file")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as ex:
        raise EnvironmentMappingError(f"{path}: the conda file is not valid YAML: {ex}") from ex
    except (ValueError, TypeError, OverflowError, RecursionError) as ex:
        # PyYAML raises these for impossible dates, huge numbers and very deep nesting.
        raise EnvironmentMappingError(f"{path}: the conda file is not valid YAML: {ex}") from None
    if not isinstance(document, dict):
        raise EnvironmentMappingError(f"{path}: a conda file must be a mapping with `dependencies`")
    return document
