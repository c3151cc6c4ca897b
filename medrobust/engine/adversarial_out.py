"""``write_adversarial``: each attacked sample's quantised example written back as DICOM or NIfTI, as batches finish.

The folder is the user's, named on request, and never inside the results folder: the copies
carry the source files' patient identifiers. Each attack and budget gets a subfolder holding the
copies and an ``index.csv`` (file, sample id, label) that medrobust's DICOM or NIfTI loader reads back.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from torch import Tensor

from medrobust.datasets.base import MedicalDataset
from medrobust.datasets.dicom_write import write_copies
from medrobust.datasets.files import FileDataset
from medrobust.datasets.nifti_write import write_nifti_copy
from medrobust.errors import ConfigError


class AdversarialWriter:
    """Writes the quantised examples of file-space DICOM or NIfTI data into ``out_dir``."""

    def __init__(self, data: MedicalDataset, out_dir: str | Path, results_folder: Path | None) -> None:
        self.out_dir = Path(out_dir).expanduser().resolve()
        grid = data.info.grid
        self.kind = "dicom" if "key" in data.info.extra else "nifti" if "canonical" in data.info.extra else ""
        if grid is None or not isinstance(data, FileDataset) or not self.kind:
            raise ConfigError(
                "write_adversarial needs DICOM or NIfTI data read with space=file (stored values to write back)"
            )
        if results_folder is not None:
            results = results_folder.expanduser().resolve()
            if self.out_dir == results or results in self.out_dir.parents:
                raise ConfigError(
                    f"write_adversarial folder {self.out_dir} lies inside the results folder: the copies carry "
                    "patient identifiers, so they go into a folder of their own"
                )
        self.data, self.grid = data, grid

    def write_at(self, index: np.ndarray, label: str, budget_label: str, x_q: Tensor) -> None:
        """Write one batch's examples of ``label`` at one budget, and append them to that folder's index."""
        folder = self.out_dir / label / re.sub(r"[^\w.-]", "_", budget_label)
        rows = []
        for i, sample in enumerate(index.tolist()):
            entry = self.data.entries[sample]
            tag = f"{label}@{budget_label}"
            image = x_q[i : i + 1][0]
            if self.kind == "dicom":
                written = write_copies(entry.load.paths, image, self.grid, folder, tag, _describe(tag))
            else:
                canonical = bool(self.data.info.extra["canonical"])
                written = [write_nifti_copy(entry.load.path, image, self.grid, folder, tag, canonical)]
            label_value = self.data.labels()[sample]
            y = int(label_value) if np.ndim(label_value) == 0 else ";".join(str(int(v)) for v in label_value)
            rows += [(p.name, self.data.sample_id(sample), y) for p in written]
        index_csv = folder / "index.csv"
        new = not index_csv.exists()
        with index_csv.open("a", newline="") as f:
            out = csv.writer(f)
            if new:
                out.writerow(["file", "sample_id", "label"])
            out.writerows(rows)


def _describe(tag: str) -> str:
    return f"medrobust adversarial example ({tag}), stored values rounded onto the file's grid"
