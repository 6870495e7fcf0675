"""Fixtures for every test."""
import sys

import pytest


@pytest.fixture(autouse=True)
def _torch_default_dtype():
    """A test that sets PyTorch's default dtype (float64 for an oracle) leaves it as it found it: later
    tests build PyTorch models that must come out float32."""
    torch = sys.modules.get("torch")
    before = torch.get_default_dtype() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_default_dtype(before if before is not None else torch.float32)
