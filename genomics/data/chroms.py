"""Chromosome names: aliases so that ``chr20`` meets ``20`` and ``chrM`` meets ``MT``."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ChromAliases", "alias_key"]


def alias_key(name: str) -> str:
    """The form two aliases share: no ``chr`` prefix, mitochondria as ``MT``.

    >>> alias_key("chr20"), alias_key("20"), alias_key("chrM"), alias_key("MT")
    ('20', '20', 'MT', 'MT')
    """
    key = name[3:] if name[:3].lower() == "chr" and len(name) > 3 else name
    return "MT" if key in ("M", "m", "MT", "Mt", "mt") else key


class ChromAliases:
    """Resolve a chromosome name, or an alias of it, to the name used by a reference.

    Parameters
    ----------
    names : the reference's own chromosome names (e.g. the FASTA's).
    """

    def __init__(self, names: Iterable[str]):
        self.names = list(names)
        self._exact = set(self.names)
        self._by_key: dict[str, str] = {}
        for name in self.names:
            self._by_key.setdefault(alias_key(name), name)

    def resolve(self, name: str) -> str | None:
        """The reference's name for ``name`` (itself or an alias), or None if absent."""
        if name in self._exact:
            return name
        return self._by_key.get(alias_key(name))

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None
