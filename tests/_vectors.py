"""The one loader of Envoy's expectations (``envoy-vectors*.json``).

The spec's vector files live in ``../shared/spec/`` beside the checkout;
``tests/golden/`` pins a copy so that the suite also runs from an sdist or a
checkout without ``shared/``.  :func:`envoy_vectors` reads the shared copy
when it is there (``test_pinned_vectors_match_spec`` checks the two agree),
else the pinned one.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ("GOLDEN_DIR", "SPEC_DIR", "envoy_vectors")

#: ``../shared/spec/`` beside the checkout (absent in an sdist).
SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"
#: The pinned copies and the project's own golden tables.
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@cache
def envoy_vectors(name: str = "envoy-vectors.json") -> dict[str, Any]:
    """Return the vector file *name*: the spec's copy if present, else the pinned one."""
    spec = SPEC_DIR / name
    path = spec if spec.exists() else GOLDEN_DIR / name
    return json.loads(path.read_text())  # type: ignore[no-any-return]
