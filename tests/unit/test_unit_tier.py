"""The unit tier's guard catches what it looks for (tests/unit_tier.py): a socket or a
process is refused and recorded, and the CPU clock counts a test's work but not its
imports. Each check seals again inside the test, so what it tries is refused there and
never reaches the guard around the test itself."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.unit_tier import OutsideTheUnitTier, cpu_outside_imports, sealed


def _spin(seconds: float) -> None:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_socket_or_a_process_is_refused_and_recorded() -> None:
    with sealed() as tried:
        with socket.socket() as sock, pytest.raises(OutsideTheUnitTier, match="socket.bind"):
            sock.bind(("127.0.0.1", 0))
        with socket.socket() as sock, pytest.raises(OutsideTheUnitTier,
                                                     match="socket.connect"):
            sock.connect(("127.0.0.1", 9))
        with pytest.raises(OutsideTheUnitTier, match="subprocess"):
            subprocess.run(["true"], check=False)
        with pytest.raises(OutsideTheUnitTier, match="os.system"):
            os.system("true")  # noqa: S605, S607 - refused before any shell starts
        try:  # the code under test's own error handling does not hide it
            subprocess.run(["true"], check=False)
        except Exception:  # noqa: BLE001, S110 - what the guard must get past
            pass
        except OutsideTheUnitTier:
            pass
    assert tried == ["socket.bind", "socket.connect", "subprocess", "os.system", "subprocess"]


def test_the_cpu_clock_counts_the_work_and_leaves_imports_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow_to_import_for_the_guard.py").write_text(
        "import time\nuntil = time.process_time() + 0.2\n"
        "while time.process_time() < until:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import_for_the_guard", raising=False)

    with cpu_outside_imports() as cpu:
        importlib.import_module("slow_to_import_for_the_guard")
        after_import = cpu()
        _spin(0.2)
        after_work = cpu()

    assert after_import < 0.1
    assert after_work >= 0.2
