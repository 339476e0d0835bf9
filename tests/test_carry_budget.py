"""What travels to the GPU machine: the checkout and the carried data must fit its limit, so
that shipping new weights cannot silently break the GPU call."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import ROOT

CARRY_LIMIT = 64 * 2**20  # the checkout plus the carried folders, in all
CARRIED = 13 * 2**20  # the carried MNIST copy (.data) and Keras wheels (.whl)


def tracked_bytes() -> int:
    """Bytes of the files git tracks, as they are in the working tree."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                            check=True).stdout.decode().split("\0")
    return sum((ROOT / name).stat().st_size for name in listed
               if name and (ROOT / name).is_file())


def test_the_checkout_and_the_carried_data_fit_the_gpu_call():
    total = tracked_bytes()
    assert total + CARRIED < CARRY_LIMIT, (
        f"tracked files {total / 2**20:.1f} MiB + carried {CARRIED / 2**20:.0f} MiB exceed "
        f"{CARRY_LIMIT / 2**20:.0f} MiB: store large weights as float16 "
        "(`checkpoints.save(..., storage='float16')`)")
