"""tools/gpu/profile_overhead.py on the CPU: the check that a CUDA-graph
replay computes what the eager forward does (the graph itself needs a
GPU; here a stand-in replays a fixed function of its input buffer)."""
import pytest
import torch
from tool_loader import load_tool


def _pair(stale):
    """An eager function of the buffer ``x`` and a 'replay' that either
    reads ``x`` again or returns what it computed once (a graph that baked
    in its capture's input)."""
    x = torch.randn(3, 4)
    weight = torch.randn(4, 5)

    def eager():
        return x @ weight

    captured = eager().clone()

    def replay():
        return captured if stale else eager()

    return eager, replay, x


def test_a_replay_that_reads_its_input_passes():
    tool = load_tool('gpu/profile_overhead.py')
    eager, replay, x = _pair(stale=False)
    assert tool.check_replay(eager, replay, x) == 0.0


def test_a_replay_of_the_capture_input_fails():
    tool = load_tool('gpu/profile_overhead.py')
    eager, replay, x = _pair(stale=True)
    with pytest.raises(SystemExit, match='differs from the eager'):
        tool.check_replay(eager, replay, x)
