"""Independent sequential references for the ops tests.

Kept apart from ``mmpose_stmamba.ops`` on purpose: the package's own
``ref`` backend is also under test.  Everything runs in float64 and
gradients come from autograd through the explicit loop over tokens.

References:
    * Mamba (Gu & Dao, 2023), Alg. 2: the discretised recurrence
      x[l] = exp(dt[l] A) x[l-1] + dt[l] B[l] u[l], y[l] = C[l] . x[l].
"""
import torch
import torch.nn.functional as F


def scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                   delta_softplus=False):
    """Selective scan in float64, one token at a time.

    Args:
        u, delta: (b, d, L).  A: (d, n).  B, C: (b, n, L) or (b, g, n, L).
        D, delta_bias: (d,).  z: (b, d, L).

    Returns:
        tuple: y (b, d, L) and the last state (b, d, n), float64.
    """
    f64 = torch.float64
    u, delta, A = u.to(f64), delta.to(f64), A.to(f64)
    b, d, length = u.shape
    if delta_bias is not None:
        delta = delta + delta_bias.to(f64).view(d, 1)
    if delta_softplus:
        delta = F.softplus(delta)
    if B.dim() == 3:
        B = B[:, None]
    if C.dim() == 3:
        C = C[:, None]
    # Channel j reads group j // (d / g) of B and C.
    group_of = torch.arange(d, device=u.device) // (d // B.shape[1])
    Bd = B.to(f64)[:, group_of]  # (b, d, n, L)
    Cd = C.to(f64)[:, group_of]
    state = torch.zeros(b, d, A.shape[1], dtype=f64, device=u.device)
    outputs = []
    for t in range(length):
        dt = delta[:, :, t].unsqueeze(-1)  # (b, d, 1)
        state = torch.exp(dt * A) * state \
            + dt * Bd[:, :, :, t] * u[:, :, t].unsqueeze(-1)
        outputs.append(torch.einsum('bdn,bdn->bd', state, Cd[:, :, :, t]))
    y = torch.stack(outputs, dim=2)
    if D is not None:
        y = y + D.to(f64).view(d, 1) * u
    if z is not None:
        z = z.to(f64)
        y = y * z * torch.sigmoid(z)
    return y, state


def multi_order_reference(u, delta, A, B, C, D, delta_bias, delta_softplus,
                          perms):
    """Per-order loop: scan each order alone, restore, sum the pairs.

    Args:
        u: (b, d, L).  delta: (b, K, d, L).  A: (K*d, n).
        B, C: (b, K, n, L).  D, delta_bias: (K*d,) or None.
        perms (list[list[int]]): the K orders as index lists.

    Returns:
        Tensor: (b, K/2, d, L), float64.
    """
    d = u.shape[1]
    K = len(perms)
    restored = []
    for k, perm in enumerate(perms):
        p = torch.as_tensor(perm, device=u.device)
        rows = slice(k * d, (k + 1) * d)
        y, _ = scan_reference(
            u[..., p], delta[:, k][..., p], A[rows], B[:, k][..., p],
            C[:, k][..., p], None if D is None else D[rows], None,
            None if delta_bias is None else delta_bias[rows],
            delta_softplus)
        back = torch.empty_like(y)
        back[..., p] = y  # sequence position i holds token perm[i]
        restored.append(back)
    return torch.stack([restored[k] + restored[k + K // 2]
                        for k in range(K // 2)], dim=1)


def chain_reference(a_t, sdt, local, reverse):
    """The sequence parts' start values from their local end values, part
    after part (what ``scan_triton_seq._chain`` computes in one launch):
    h0[s] = exp(A sdt[s-1]) h0[s-1] + local[s-1] forward, the mirror image
    with ``reverse``, zero at the first part.

    Args:
        a_t: (N, K*Dm).  sdt: (B, K, P, Dm).  local: (B, K, P, N, Dm).
    """
    bt, k, parts, n, dm = local.shape
    a = a_t.double().view(n, k, dm).transpose(0, 1)  # (K, N, Dm)
    out = torch.zeros_like(local, dtype=torch.float64)
    order = range(parts - 2, -1, -1) if reverse else range(1, parts)
    for s in order:
        src = s + 1 if reverse else s - 1
        decay = torch.exp(a * sdt[:, :, src, None, :].double())
        out[:, :, s] = decay * out[:, :, src] + local[:, :, src].double()
    return out
