"""The package's shape: modules small enough to own one concern, and the remote-code pair self-contained, because
`save_pretrained` copies those two files into every checkpoint for `trust_remote_code=True` users."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exhubert_hf"
MAX_LINES = 600
REMOTE_CODE = ("configuration_exhubert.py", "modeling_exhubert.py")
# What the remote-code pair may import: the standard library, torch, transformers (and its huggingface_hub), and each other.
ALLOWED_ROOTS = {"copy", "dataclasses", "os", "re", "functools", "warnings", "torch", "transformers", "huggingface_hub"}


def modules():
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_owns_too_much(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by concern (limit {MAX_LINES})"


@pytest.mark.parametrize("name", REMOTE_CODE)
def test_the_remote_code_files_are_self_contained(name):
    tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and node.module in ("configuration_exhubert", "modeling_exhubert"), ast.unparse(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            roots = [alias.name.split(".")[0] for alias in node.names] if isinstance(node, ast.Import) else [node.module.split(".")[0]]
            assert set(roots) <= ALLOWED_ROOTS, f"{name} imports {ast.unparse(node)}; it must run where exhubert_hf is not installed"
