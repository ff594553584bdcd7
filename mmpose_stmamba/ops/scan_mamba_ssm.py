"""Adapter to mamba-ssm's CUDA selective-scan kernel.

References:
    * state-spaces/mamba, ``mamba_ssm/ops/selective_scan_interface.py``:
      ``selective_scan_fn`` has the very contract of
      :func:`mmpose_stmamba.ops.selective_scan`, so this adapter only
      imports it lazily and normalises dtypes.

mamba-ssm is optional (``pip install -e .[cuda]``).  Its package
``__init__`` imports Triton and builds CUDA modules, so it is imported
here on first use only, never when ``mmpose_stmamba`` is imported.
"""
import functools
import importlib

INSTALL_HINT = ('install the CUDA extras with `pip install -e .[cuda]` '
                '(mamba-ssm, needs a CUDA toolchain)')


@functools.lru_cache(maxsize=None)
def _load():
    """Import mamba-ssm's selective_scan_fn once; (fn, None) or (None, why).
    """
    try:
        module = importlib.import_module(
            'mamba_ssm.ops.selective_scan_interface')
    except Exception as err:  # ImportError, or a CUDA/ABI load failure
        return None, f'{type(err).__name__}: {err}'
    return module.selective_scan_fn, None


def mamba_ssm_unavailable_reason():
    """Why the mamba_ssm backend cannot run here, or None if it can."""
    import torch
    if not torch.cuda.is_available():
        return 'no CUDA device (the mamba-ssm kernel is CUDA-only)'
    return _load()[1]


def selective_scan_mamba_ssm(u,
                             delta,
                             A,
                             B,
                             C,
                             D=None,
                             z=None,
                             delta_bias=None,
                             delta_softplus=False,
                             return_last_state=False):
    """mamba-ssm's fused CUDA selective scan (same contract as the op).

    The kernel wants A, D and delta_bias in float32; they are cast here
    (a no-op for the usual fp32 parameters, and autograd casts the
    gradients back).

    mamba-ssm's backward ignores the gradient of the returned last state
    (only the output's gradient flows), so the last state is returned
    detached: a loss on it then fails loudly instead of getting silently
    wrong gradients.  The model never uses it; the ``torch`` backend
    differentiates through it.
    """
    if not u.is_cuda:
        raise RuntimeError('selective_scan backend \'mamba_ssm\' needs CUDA '
                           f'tensors, got device {u.device}; use '
                           'backend=\'torch\' on CPU')
    fn, why = _load()
    if fn is None:
        raise RuntimeError('selective_scan backend \'mamba_ssm\' is not '
                           f'available ({why}); {INSTALL_HINT}')
    A = A.float()
    D = D.float() if D is not None else None
    delta_bias = delta_bias.float() if delta_bias is not None else None
    out = fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
             return_last_state)
    if return_last_state:
        y, last_state = out
        return y, last_state.detach()
    return out
