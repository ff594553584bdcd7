"""Fixtures of the project tests.

The repository root goes on ``sys.path`` so that a project's own code
imports as ``projects.<name>.models`` (as its config's ``custom_imports``
names it, see projects/README.md) from any working directory.
"""
import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one intra-op thread: on a shared 2-core machine two threads
    spin against each other and HRNet runs about 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
