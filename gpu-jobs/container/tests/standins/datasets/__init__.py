"""Stand-in for datasets.Dataset: a list of rows that counts how often rows are read (host work)."""

from __future__ import annotations

from typing import Any, Dict, List


class Dataset:
    def __init__(self, rows: List[Dict[str, Any]]) -> None:
        self._rows = rows
        self.fetches = 0

    @classmethod
    def from_list(cls, rows: List[Dict[str, Any]]) -> "Dataset":
        return cls([dict(r) for r in rows])

    @property
    def column_names(self) -> List[str]:
        return list(self._rows[0].keys()) if self._rows else []

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        self.fetches += 1
        return dict(self._rows[i])

    def __iter__(self):
        for i in range(len(self._rows)):
            yield self[i]


class IterableDataset:
    pass
