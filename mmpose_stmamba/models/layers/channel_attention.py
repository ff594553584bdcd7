"""Sequential channel attention of the GSM block (GLSMamba Sec. 3.2).

References:
    * GLSMamba (Feng et al., ICCV 2025): the T frames' features are
      concatenated, globally average pooled, passed through MLPs and a
      sigmoid, giving per-frame channel weights that re-weight the clip.
    * Squeeze-and-Excitation (Hu et al., CVPR 2018): pool, bottleneck MLP,
      sigmoid gate.  Written anew.

Inferred (the paper is silent):
    * The MLP acts on the concatenation of the T frames' pooled channels
      (T * D inputs, T * D outputs), so every frame's weights see every
      frame; the hidden width is ``T * D // reduction``.
    * Clip lengths other than the training one: the pooled descriptors are
      placed into the ``num_frames`` slots by key-frame offset (clamped at
      the clip's ends, i.e. edge frames repeated, as the data pipeline pads
      clips at video ends), and each frame takes the weights of the slot of
      its own (clamped) offset.  See :func:`offset_slots`.
"""
import torch
import torch.nn as nn

from .embeddings import offset_slots


class SequentialChannelAttention(nn.Module):
    """Per-frame channel weights from the whole clip (SE over T * D).

    Args:
        channels (int): D, channels per frame.
        num_frames (int): S, frames the MLP is built for (training T).
            Defaults to 5.
        reduction (float): Hidden width is ``S * D / reduction``.
            Defaults to 1.
    """

    def __init__(self,
                 channels: int,
                 num_frames: int = 5,
                 reduction: float = 1.):
        super().__init__()
        if reduction <= 0:
            raise ValueError(f'reduction must be > 0, got {reduction}')
        self.num_frames = num_frames
        width = num_frames * channels
        self.mlp = nn.Sequential(
            nn.Linear(width, int(round(width / reduction))),
            nn.ReLU(inplace=True),
            nn.Linear(int(round(width / reduction)), width),
            nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Re-weight each frame's channels.

        Args:
            x (Tensor): (B, T, H, W, D) channels-last clip features.

        Returns:
            Tensor: (B, T, H, W, D), x times its per-frame channel weights.
        """
        B, T, _, _, D = x.shape
        S = self.num_frames
        pooled = x.mean(dim=(2, 3))  # (B, T, D)
        # slot s holds the frame whose offset is s - S // 2 (clamped)
        frame_of_slot = offset_slots(S, T, x.device)
        weights = self.mlp(pooled[:, frame_of_slot].reshape(B, S * D))
        weights = weights.view(B, S, D)[:, offset_slots(T, S, x.device)]
        return x * weights[:, :, None, None, :].to(x.dtype)
