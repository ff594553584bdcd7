"""Run a test module's ``_interpreter_main`` under Triton's interpreter.

Also what the Triton kernels' tests share: whether CUDA and Triton are
there, and the max-norm error they report.

Triton reads ``TRITON_INTERPRET`` when a kernel is defined, so the cases
run in a subprocess that imports the test module afresh with the flag set
(and no visible GPU).  ``_interpreter_main`` prints one line per case and
last ``WORST <error>``.
"""
import math
import os
import subprocess
import sys

import torch

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_CUDA = torch.cuda.is_available()
try:
    import triton  # noqa: F401
    HAS_TRITON = True
except ImportError:
    HAS_TRITON = False


def rel_max(x, ref):
    """max |x - ref| / max(1, max |ref|); NaN fails."""
    err = ((x.double() - ref.double()).abs().max() /
           ref.double().abs().max().clamp_min(1.)).item()
    return err if math.isfinite(err) else math.inf


def run_cases(cases):
    """Run (label, fn, kwargs) cases, print each one's {name: error} and,
    last, ``WORST <error>`` (what :func:`run_interpreter_main` reads)."""
    worst = 0.0
    for label, fn, kwargs in cases:
        errs = fn(**kwargs)
        print(label, errs)
        worst = max(worst, *errs.values())
    print(f'WORST {worst:.3e}')


def run_interpreter_main(module: str, timeout: int) -> float:
    """The worst error printed by ``test_ops.<module>._interpreter_main``.

    Fails the calling test (AssertionError with the end of stderr) if the
    subprocess fails.
    """
    env = dict(os.environ, TRITON_INTERPRET='1', CUDA_VISIBLE_DEVICES='')
    code = (f'import sys; sys.path.insert(0, sys.argv[1]); '
            f'from test_ops.{module} import _interpreter_main; '
            f'_interpreter_main()')
    proc = subprocess.run([sys.executable, '-c', code, TESTS], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    print(proc.stdout)
    return float(proc.stdout.strip().splitlines()[-1].split()[-1])
