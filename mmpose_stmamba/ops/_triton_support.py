# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Where the Triton kernels of this package (the fused deformable sampling
and the channels-last depthwise convolution) can run.  No Triton import."""
import os
from typing import Optional

import torch


def why_unsupported(x: torch.Tensor) -> Optional[str]:
    """Why the kernels cannot run on x (None if they can).

    They run CUDA tensors of a float dtype, and CPU ones in Triton's
    interpreter (``TRITON_INTERPRET=1``, how the CPU tests exercise them).
    """
    if not x.is_cuda and os.environ.get('TRITON_INTERPRET') != '1':
        return f'x is on {x.device}, not a CUDA device'
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return f'x.dtype={x.dtype} is not float32/bfloat16/float16'
    return None
