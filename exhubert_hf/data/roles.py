"""The part each corpus plays in the paper: EmoSet++ (stage-1 fine-tuning), one of Table 2's six unseen test
corpora (stage 2 only), or an extra corpus of this package. The facts and their sources are in
`corpus_roles.yaml`; this module reads them and matches corpus names against them.

    corpus_role("jl_corpus").role      # "unseen"
    unseen_corpora(["emodb", "manifest:aesi", "vivae"])   # ["manifest:aesi", "vivae"]
"""

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import yaml

ROLES_FILE = "corpus_roles.yaml"
EMOSET = "emoset"
UNSEEN = "unseen"
EXTRA = "extra"
ROLES = (EMOSET, UNSEEN, EXTRA)


@dataclass(frozen=True)
class CorpusRole:
    """A corpus as the paper names it: `key` (the adapter name, or "aesi"), `role`, the paper's spelling."""

    key: str
    role: str
    paper_name: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusRoles:
    corpora: dict[str, CorpusRole]
    emoset_plus_plus: tuple[str, ...]  # the 37 names of EmoSet++
    unseen_test_corpora: tuple[str, ...]  # keys of Table 2's six test corpora, in the paper's order

    def find(self, name: str) -> CorpusRole | None:
        """The role of a corpus name (an adapter name, `manifest:NAME`, the paper's spelling or an alias), or None
        for a corpus the paper does not name. A paper name of EmoSet++ without an adapter gives role emoset."""
        wanted = _normalise(str(name).removeprefix("manifest:"))
        for role in self.corpora.values():
            if wanted in {_normalise(role.key), _normalise(role.paper_name or ""), *map(_normalise, role.aliases)}:
                return role
        for paper_name in self.emoset_plus_plus:
            if wanted == _normalise(paper_name):
                return CorpusRole(wanted, EMOSET, paper_name)
        return None


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_corpus_roles(text: str) -> CorpusRoles:
    data = yaml.safe_load(text) or {}
    corpora = {}
    for key, entry in (data.get("corpora") or {}).items():
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{ROLES_FILE}: corpora.{key}.role must be one of {ROLES}, got {role!r}")
        corpora[key] = CorpusRole(key, role, entry.get("paper_name"), tuple(entry.get("aliases") or ()))
    unseen = tuple(data.get("unseen_test_corpora") or ())
    wrong = [key for key in unseen if key not in corpora or corpora[key].role != UNSEEN]
    if wrong or sorted(unseen) != sorted(key for key, role in corpora.items() if role.role == UNSEEN):
        raise ValueError(f"{ROLES_FILE}: unseen_test_corpora must list exactly the corpora with role unseen ({wrong})")
    return CorpusRoles(corpora, tuple(data.get("emoset_plus_plus") or ()), unseen)


@functools.lru_cache(maxsize=1)
def load_corpus_roles() -> CorpusRoles:
    """The package's corpus_roles.yaml, parsed and checked (cached)."""
    return parse_corpus_roles(resources.files("exhubert_hf").joinpath("data", ROLES_FILE).read_text(encoding="utf-8"))


def corpus_role(name: str) -> CorpusRole | None:
    """The paper's role of a corpus name, or None where the paper does not name the corpus."""
    return load_corpus_roles().find(name)


def unseen_corpora(names: Iterable[str]) -> list[str]:
    """The names, in order, that are Table 2's unseen test corpora."""
    return [name for name in names if (role := corpus_role(name)) is not None and role.role == UNSEEN]


__all__ = [
    "EMOSET",
    "EXTRA",
    "ROLES",
    "UNSEEN",
    "CorpusRole",
    "CorpusRoles",
    "corpus_role",
    "load_corpus_roles",
    "parse_corpus_roles",
    "unseen_corpora",
]
