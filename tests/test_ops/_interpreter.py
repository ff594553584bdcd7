"""Run a test module's ``_interpreter_main`` under Triton's interpreter.

Triton reads ``TRITON_INTERPRET`` when a kernel is defined, so the cases
run in a subprocess that imports the test module afresh with the flag set
(and no visible GPU).  ``_interpreter_main`` prints one line per case and
last ``WORST <error>``.
"""
import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
