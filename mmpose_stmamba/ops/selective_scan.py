"""The selective-scan op and its backend registry.

References:
    * Mamba (Gu & Dao, 2023), the S6 layer; the public ``selective_scan_fn``
      of state-spaces/mamba fixes the argument names, order and shapes
      used here, so its CUDA kernel plugs in as one backend.
    * MzeroMiko/VMamba ``csms6s.py``: a FLOP formula next to the op,
      because FLOP counters cannot see inside a custom scan.  The constant
      (9 per state update) is the convention of state-spaces/mamba issue
      #110, kept so our counts compare with published VMamba/VideoMamba
      tables.

Backends (a name -> callable registry; all share one signature):

* ``'ref'``: :func:`~.scan_torch.selective_scan_ref`, the sequential
  specification (slow; tests and benchmarks only).
* ``'torch'``: :func:`~.scan_torch.selective_scan_torch`, a chunked scan
  with an analytic backward; CPU and GPU.
* ``'mamba_ssm'``: mamba-ssm's fused CUDA kernel, imported on first use.
* ``'auto'``: ``'mamba_ssm'`` for CUDA tensors when it imports, else
  ``'torch'``.  The environment variable ``STMAMBA_SCAN_BACKEND`` (one of
  the names above, or ``'triton'`` which only the multi-order scan
  knows) replaces ``'auto'``, for CI and debugging.
"""
import functools
import os

import torch

from .scan_mamba_ssm import (INSTALL_HINT, mamba_ssm_unavailable_reason,
                             selective_scan_mamba_ssm)
from .scan_torch import selective_scan_ref, selective_scan_torch

ENV_BACKEND = 'STMAMBA_SCAN_BACKEND'


def _always(device_type):
    return None


def _cuda_only(device_type):
    if device_type != 'cuda':
        return 'it runs on CUDA tensors only'
    return mamba_ssm_unavailable_reason()


# name -> (callable, reason-unavailable(device_type) -> str or None)
_BACKENDS = {
    'ref': (selective_scan_ref, _always),
    'torch': (selective_scan_torch, _always),
    'mamba_ssm': (selective_scan_mamba_ssm, _cuda_only),
}


def available_backends(device=None):
    """Names of the backends that can run on ``device`` here.

    Args:
        device (str | torch.device, optional): the tensors' device.
            Defaults to None: backends usable on any device of this
            machine (CUDA when present).

    Returns:
        list[str]: backend names, 'auto' excluded.
    """
    if device is None:
        types = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    else:
        types = [torch.device(device).type]
    return [
        name for name, (_, why) in _BACKENDS.items()
        if any(why(t) is None for t in types)
    ]


def resolve_backend(backend, device):
    """Turn a backend name (maybe ``'auto'``) into a runnable one.

    Args:
        backend (str): ``'auto'`` or a registered name.
        device (str | torch.device): the tensors' device.

    Returns:
        str: the registered backend that will run.

    Raises:
        ValueError: unknown name (argument or environment variable).
        RuntimeError: the named backend cannot run here; says why and how
            to install it.
    """
    source = 'backend'
    forced = os.environ.get(ENV_BACKEND)
    # 'triton' is a multi-order backend (multi_scan.py); forcing it leaves
    # the plain scans that remain on 'auto'.
    if backend == 'auto' and forced and forced != 'triton':
        backend, source = forced, ENV_BACKEND
    device_type = torch.device(device).type
    if backend == 'auto':
        if _BACKENDS['mamba_ssm'][1](device_type) is None:
            return 'mamba_ssm'
        return 'torch'
    if backend not in _BACKENDS:
        raise ValueError(f'{source}={backend!r} is not a selective-scan '
                         f'backend; choose \'auto\' or one of '
                         f'{sorted(_BACKENDS)}')
    why = _BACKENDS[backend][1](device_type)
    if why is not None:
        hint = f'; {INSTALL_HINT}' if backend == 'mamba_ssm' else ''
        raise RuntimeError(f'selective_scan backend {backend!r} is not '
                           f'available for {device_type} tensors: {why}'
                           f'{hint}')
    return backend


def selective_scan(u,
                   delta,
                   A,
                   B,
                   C,
                   D=None,
                   z=None,
                   delta_bias=None,
                   delta_softplus=False,
                   backend='auto',
                   return_last_state=False):
    """Selective scan (S6), Mamba Alg. 2, with mamba-ssm's contract.

    For every batch b, channel d and state n, with x[-1] = 0::

        dt   = softplus(delta + delta_bias)   (each part optional)
        x[l] = exp(dt[l] * A[d, n]) * x[l-1] + dt[l] * B[n, l] * u[l]
        y[l] = sum_n C[n, l] * x[l, n] + D[d] * u[l]
        out  = y * silu(z)                    (when z is given)

    Args:
        u (Tensor): input, (B, D, L).
        delta (Tensor): step sizes before bias/softplus, (B, D, L).
        A (Tensor): state matrix diagonal, (D, N), real, normally < 0.
        B (Tensor): input projection, (B, N, L) shared by all channels, or
            grouped (B, G, N, L): channel d uses group d // (D / G).  K
            scan orders run in one call as K groups.
        C (Tensor): output projection, same shape rules as ``B``.
        D (Tensor, optional): skip weights, (D,). Defaults to None.
        z (Tensor, optional): gate, (B, D, L). Defaults to None.
        delta_bias (Tensor, optional): added to delta, (D,).
            Defaults to None.
        delta_softplus (bool): apply softplus to delta (after the bias).
            Defaults to False.
        backend (str): ``'auto'``, ``'ref'``, ``'torch'`` or
            ``'mamba_ssm'`` (module docstring). Defaults to ``'auto'``.
        return_last_state (bool): also return x[L-1]. Defaults to False.

    Returns:
        Tensor | tuple[Tensor, Tensor]: out (B, D, L) in u's dtype, and,
        when ``return_last_state``, the last state (B, D, N) in float32
        (float64 for float64 inputs).
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    name = resolve_backend(backend, u.device)
    fn = _BACKENDS[name][0]
    return fn(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias,
              delta_softplus=delta_softplus,
              return_last_state=return_last_state)


def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    """Raise ValueError naming the argument whose shape is wrong."""
    if u.dim() != 3:
        raise ValueError(f'u must be (batch, channels, L), got '
                         f'{tuple(u.shape)}')
    batch, dim, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f'delta must match u {tuple(u.shape)}, got '
                         f'{tuple(delta.shape)}')
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f'A must be ({dim}, N), got {tuple(A.shape)}')
    state = A.shape[1]
    for name, t in (('B', B), ('C', C)):
        ok = (t.dim() == 3 and t.shape == (batch, state, length)) or (
            t.dim() == 4 and t.shape[0] == batch and t.shape[2:] ==
            (state, length) and dim % t.shape[1] == 0)
        if not ok:
            raise ValueError(f'{name} must be ({batch}, {state}, {length}) '
                             f'or ({batch}, G, {state}, {length}) with G '
                             f'dividing {dim}, got {tuple(t.shape)}')
    for name, t in (('D', D), ('delta_bias', delta_bias)):
        if t is not None and tuple(t.shape) != (dim, ):
            raise ValueError(f'{name} must be ({dim},), got {tuple(t.shape)}')
    if z is not None and z.shape != u.shape:
        raise ValueError(f'z must match u {tuple(u.shape)}, got '
                         f'{tuple(z.shape)}')


@functools.lru_cache(maxsize=None)
def selective_scan_flops(batch, channels, L, N, with_D=True, with_z=False):
    """Forward FLOPs of one selective-scan call.

    9 FLOPs per state update (b, d, l, n): the product dt * A and its exp,
    the input dt * B * u, the update a * x + b, and the read-out C . x, as
    counted by mamba issue #110 and the VMamba/VideoMamba FLOP tables.
    The skip term D * u adds one multiply-add per (b, d, l) and the SiLU
    gate one more, the same convention.  Softplus, bias and casts are
    not counted.

    Args:
        batch (int): B.
        channels (int): D, all K orders together (K * D_inner).
        L (int): sequence length.
        N (int): state size.
        with_D (bool): the skip term is used. Defaults to True.
        with_z (bool): the SiLU gate is used. Defaults to False.

    Returns:
        int: FLOPs.
    """
    flops = 9 * batch * channels * L * N
    if with_D:
        flops += batch * channels * L
    if with_z:
        flops += batch * channels * L
    return flops
