"""What computed a cached picture: a digest of reportgen's compute modules and the versions of the
libraries whose output enters a picture. It is part of every cache key (``cache.cache_key``) and of
every model card's name, so an entry made by other code is never served: a change in a compute
module, or a new torch, recomputes; a change in the site, its templates, the command line or the
regression check does not.

The compute modules are found, not listed: every module of the package that ``COMPUTE_ROOTS``
import, directly or through each other, read from their source (``import`` statements anywhere in
a module, those under ``if TYPE_CHECKING:`` excepted). A new module a technique imports is covered
the moment it is imported. A technique's page view (a module named ``*_view``) and the number formats
(``reportgen.gallery.formats``) shape pages, not pictures: they are left out, and so is what only they import.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Iterable

from reportgen.core.digests import file_sha256

PACKAGE = "reportgen"
# What turns a request into a picture: the techniques, and the executors that load a model and run
# their ``compute``. Everything they import is compute code.
COMPUTE_ROOTS = ("reportgen.techniques", "reportgen.core.executors")
# Libraries whose results enter a picture: their major.minor versions are part of the identity.
# imageio: the animations' bytes; scikit-learn: the embedding map's t-SNE
PICTURE_LIBRARIES = ("torch", "torchvision", "timm", "numpy", "pillow", "imageio", "scikit_learn")
# Libraries compute modules import that never shape a picture: progress bars, the Ray transport,
# the Hugging Face cache's file names (the weights' content enters the model's identity instead),
# the markup of a technique's captions on the pages.
# Every third-party import of a compute module is in one of these two lists (tests/core/test_code_identity.py).
OTHER_LIBRARIES = ("tqdm", "ray", "huggingface_hub", "markupsafe")


def code_identity(registered: Iterable[type] = ()) -> str:
    """sha256 over the compute modules' sources and the picture libraries' major.minor versions;
    and over the source files of those ``registered`` classes (techniques, saliency methods) that
    are defined outside the package: a plugin's, a test module's."""
    base = _code_identity(_package_root())
    sources = {_source_file(cls) for cls in set(registered)}
    outside = sorted(path for path in sources if path is not None and not path.is_relative_to(_package_root()))
    if not outside:
        return base
    return _with_sources(base, tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in outside))


@functools.lru_cache(maxsize=None)
def _source_file(cls: type) -> Path | None:
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:  # defined where no file is kept
        return None
    return Path(source).resolve() if source else None


@functools.lru_cache(maxsize=None)
def _with_sources(base: str, files: tuple[tuple[str, int, int], ...]) -> str:
    """``base`` and the files' contents (named with their size and time, so an edit is read again)."""
    digest = hashlib.sha256(base.encode())
    for path, _size, _time in files:
        digest.update(f"{path}\n".encode() + Path(path).read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _code_identity(root: Path) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(compute_modules(root).items()):
        digest.update(f"{name}\n{file_sha256(path)}\n".encode())
    for library in PICTURE_LIBRARIES:
        digest.update(f"{library}=={major_minor(library)}\n".encode())
    return digest.hexdigest()


def compute_modules(root: Path | None = None) -> dict[str, Path]:
    """Module name -> source file of every compute module: ``COMPUTE_ROOTS`` and all they import
    from the package (a package root brings every module in it)."""
    package = root or _package_root()

    def compute_source(name: str) -> Path | None:
        return None if _shows_only(name) else _source(package, name)

    roots = [name for root_name in COMPUTE_ROOTS for name in _package_members(package, root_name)]
    return import_closure([(name, path) for name in roots if (path := compute_source(name)) is not None],
                          compute_source)


def import_closure(start: Iterable[tuple[str, Path]], resolve: Callable[[str], Path | None]) -> dict[str, Path]:
    """Module name -> source file of the modules in ``start`` and of every module they import,
    directly or through each other, that ``resolve`` gives a file for (None: not followed)."""
    found: dict[str, Path] = {}
    pending = list(start)
    while pending:  # iterative: import cycles are common and harmless here
        name, path = pending.pop()
        if name in found:
            continue
        found[name] = path
        for imported in imported_modules(path, name):
            if imported not in found and (source := resolve(imported)) is not None:
                pending.append((imported, source))
    return found


def _shows_only(name: str) -> bool:
    """A page view (``reportgen.techniques.saliency_view``...) or the number formats: what a page
    or a progress line shows, never a picture."""
    return name.rpartition(".")[2].endswith("_view") or name == f"{PACKAGE}.gallery.formats"


def third_party_imports(root: Path | None = None) -> set[str]:
    """The top-level names of the libraries the compute modules import (standard library included)."""
    root = root or _package_root()
    tops = {module.split(".")[0] for name, path in compute_modules(root).items() for module in imported_modules(path, name)}
    return tops - {"", PACKAGE}


def major_minor(distribution: str) -> str:
    try:
        return ".".join(version(distribution).split(".")[:2])
    except PackageNotFoundError:
        return "none"


@functools.lru_cache(maxsize=None)
def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent  # reportgen/


def _source(root: Path, name: str) -> Path | None:
    """The file that defines module ``name`` of the package, or None if it is not a module of it."""
    parts = name.split(".")
    if parts[0] != PACKAGE or len(parts) == 1:  # the top-level __init__ only names the public API
        return None
    return module_file(root, ".".join(parts[1:]))


def module_file(root: Path, name: str) -> Path | None:
    """The file of module ``name`` (dotted) under the folder ``root``: a .py file or a package's
    __init__.py; None when there is neither."""
    base = root.joinpath(*name.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def _package_members(root: Path, name: str) -> list[str]:
    """``name`` and, if it is a package, every module in it (its own files, any depth)."""
    folder = root.joinpath(*name.split(".")[1:])
    if not (folder / "__init__.py").is_file():
        return [name]
    return [name] + [f"{name}.{'.'.join(path.relative_to(folder).with_suffix('').parts)}"
                     for path in sorted(folder.rglob("*.py")) if path.name != "__init__.py"]


def imported_modules(path: Path, name: str) -> list[str]:
    """Every module that the source file ``path`` of module ``name`` may import, with the packages
    that run on the way (``import a.b.c`` runs ``a`` and ``a.b``), at any depth of the file."""
    modules = []
    for node in _import_nodes(ast.parse(path.read_bytes(), str(path))):
        for imported in _imported_names(node, name, path):
            parts = imported.split(".")
            modules += [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return list(dict.fromkeys(modules))


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    nodes, pending = [], [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            nodes.append(node)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                pending += child.orelse
            else:
                pending.append(child)
    return nodes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(node: ast.Import | ast.ImportFrom, name: str, path: Path) -> list[str]:
    """The modules an import statement may load: ``from a import b`` may load ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importing module's package
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
