"""tools/gpu/profile_memory.py on the CPU: the saved-tensor accounting of a
small GSM block and attention block (its real use is the GPU's full size)."""
import pytest
import torch
from tool_loader import load_tool


class _Square(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 16)

    def forward(self, x):
        y = self.lin(x)
        return y * y  # mul saves y twice: one storage


def test_saved_tensors_are_counted_once_per_storage():
    tool = load_tool('gpu/profile_memory.py')
    x = torch.randn(4, 8, requires_grad=True)
    table, out = tool.saved_by_module(_Square(), x, 'cpu', depth=1)
    # Under bf16 autocast the Linear saves its bf16 copies of the input
    # (4 x 8) and the weight (16 x 8); the product saves the Linear's bf16
    # output once although twice as an operand.
    assert {k: v[:2] for k, v in table.items()} == {
        'lin': [2 * (4 * 8 + 16 * 8), 2], '(block)': [2 * 4 * 16, 1]}
    assert table['(block)'][2] == {('bfloat16', (4, 16)): 128}
    # The total counts the block's own ops, not what exists without them.
    table['(block input)'] = [4 * 8 * 4, 1, {}]
    assert tool.report('x', table)[1] == 2 * (4 * 8 + 16 * 8) + 2 * 4 * 16
    assert out.shape == (4, 16)


@pytest.mark.parametrize('kind', ['gsm', 'attention'])
def test_small_blocks_report_their_modules(kind, capsys):
    tool = load_tool('gpu/profile_memory.py')
    totals = tool.main(['--device', 'cpu', '--kinds', kind, '--batch', '1',
                        '--width', '32', '--grid', '2,8,6',
                        '--backend', 'torch'])
    text = capsys.readouterr().out
    assert totals[kind] > 0
    if kind == 'gsm':
        for name in ('mixer', 'merge', 'gate', 'ffn'):
            assert name in text
    else:
        assert 'mlp' in text or 'fc' in text or 'attn' in text


def test_gate_recompute_keeps_less(capsys):
    tool = load_tool('gpu/profile_memory.py')
    args = ['--device', 'cpu', '--kinds', 'gsm', '--batch', '1', '--width',
            '32', '--grid', '2,8,6', '--backend', 'torch']
    plain = tool.main(args)['gsm']
    recompute = tool.main(args + ['--gate-cp'])['gsm']
    assert recompute < plain
