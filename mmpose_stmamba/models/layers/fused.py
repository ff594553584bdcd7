"""Which path a layer takes: the fused Triton op or the torch modules.

The layers with a fused op (the depthwise convolution, the deformable
sampling, the gate's LayerNorm -> SiLU -> product) take an ``impl`` of
'torch' (or the layer's own name for its module path), 'triton' or
'auto'; these helpers are how all of them decide and load the op, so that
Triton is imported only on first use and a missing Triton reads the same
everywhere.
"""
import functools
import importlib

import torch

FLOATS = (torch.float32, torch.bfloat16, torch.float16)


@functools.lru_cache(maxsize=None)
def fused_module(name: str):
    """``mmpose_stmamba.ops.<name>``, or None where it does not import
    (Triton missing); probed once."""
    try:
        return importlib.import_module(f'...ops.{name}', __package__)
    except ImportError:
        return None


def takes_fused(impl: str, x: torch.Tensor, name: str) -> bool:
    """Whether ``impl`` runs the fused op of module ``name`` on x: always
    for 'triton', for 'auto' where x is a CUDA tensor of a float dtype and
    the module imports."""
    if impl == 'triton':
        return True
    return (impl == 'auto' and x.is_cuda and x.dtype in FLOATS
            and fused_module(name) is not None)


def require_fused(name: str, option: str = 'impl'):
    """The op's module; a clear error where Triton is missing."""
    module = fused_module(name)
    if module is None:
        raise RuntimeError(f"{option}='triton' needs Triton (it ships with "
                           'CUDA builds of PyTorch)')
    return module
