"""Position embeddings of the GLSMamba neck: 2D sine-cosine and temporal.

References:
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3: the projected features get
      a fixed sine-cosine spatial embedding and a learnable temporal
      embedding.
    * MAE (He et al., 2022) and its public ``get_2d_sincos_pos_embed``: the
      2D sine-cosine layout (half of the channels encode the row, half the
      column, each as sin/cos of geometric frequencies).  Written anew.

Inferred (the paper is silent):
    * How the temporal embedding adapts to a clip length other than the
      training one.  Here the embedding table has one slot per *offset
      relative to the key frame* (``num_frames`` slots, key frame in the
      centre slot), frame ``t`` of a T-frame clip uses offset
      ``t - T // 2``, and offsets beyond the trained span are clamped to
      the outermost slot.  So T=3 uses the three central slots, T=7 reuses
      the outer slots for offsets +-3, and T=1 uses the key slot.  Clamping
      mirrors how the data pipeline pads clips at video ends (the edge frame
      is repeated), so a clamped frame looks like an in-distribution one.
"""
import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_


def offset_slots(num_frames: int, num_slots: int,
                 device=None) -> torch.Tensor:
    """Map the frames of a clip to embedding slots by key-frame offset.

    Args:
        num_frames (int): T, the frames of the clip (key frame at T // 2).
        num_slots (int): S, the slots learned in training (key at S // 2).
        device (torch.device, optional): Device of the result.

    Returns:
        Tensor: (T,) long, the slot of each frame, clamped to [0, S).
    """
    offsets = torch.arange(num_frames, device=device) - num_frames // 2
    return (offsets + num_slots // 2).clamp(0, num_slots - 1)


def sincos_embedding_2d(height: int, width: int, channels: int,
                        temperature: float = 10000.) -> torch.Tensor:
    """Fixed 2D sine-cosine embedding.

    Args:
        height (int): H.
        width (int): W.
        channels (int): D, a multiple of 4.
        temperature (float): Base of the geometric frequencies.
            Defaults to 10000.

    Returns:
        Tensor: (H, W, D); channels [0, D/2) encode the row, [D/2, D) the
        column, each as [sin | cos].
    """
    if channels % 4 != 0:
        raise ValueError(
            f'channels must be a multiple of 4, got {channels}')
    quarter = channels // 4
    freqs = temperature**(-torch.arange(quarter, dtype=torch.float32) /
                          quarter)
    rows = torch.arange(height, dtype=torch.float32)[:, None] * freqs
    cols = torch.arange(width, dtype=torch.float32)[:, None] * freqs
    rows = torch.cat([rows.sin(), rows.cos()], dim=1)  # (H, D/2)
    cols = torch.cat([cols.sin(), cols.cos()], dim=1)  # (W, D/2)
    return torch.cat([
        rows[:, None].expand(height, width, 2 * quarter),
        cols[None].expand(height, width, 2 * quarter)
    ],
                     dim=-1)


class TemporalEmbedding(nn.Module):
    """Learnable temporal embedding indexed by key-frame offset.

    Args:
        channels (int): D.
        num_frames (int): Slots learned, i.e. the training clip length;
            offsets -(S // 2) .. S - 1 - S // 2. Defaults to 5.
    """

    def __init__(self, channels: int, num_frames: int = 5):
        super().__init__()
        self.num_frames = num_frames
        self.weight = nn.Parameter(torch.zeros(num_frames, channels))
        # Small random values, as for ViT position embeddings: the slots
        # must differ at the start or the blocks cannot tell frames apart.
        trunc_normal_(self.weight, std=.02)

    def forward(self, num_frames: int) -> torch.Tensor:
        """Embedding of each frame of a T-frame clip.

        Args:
            num_frames (int): T, the clip length (any T >= 1).

        Returns:
            Tensor: (T, D).
        """
        slots = offset_slots(num_frames, self.num_frames, self.weight.device)
        return self.weight[slots]
