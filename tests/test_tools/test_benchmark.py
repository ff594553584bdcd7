"""tools/benchmark.py on the CPU: its smoke mode (``--quick``) must run the
scan and block sections and write what it measured (the GPU runs are the
tool's real use; this keeps it from rotting between them)."""
import json

import pytest
from tool_loader import load_tool


def test_quick_scan_and_block(tmp_path):
    bench = load_tool('benchmark.py')
    try:
        _quick_scan_and_block(bench, tmp_path)
    finally:  # the module's block options must not leak into other tests
        bench.BLOCK_OPTIONS.clear()


def _quick_scan_and_block(bench, tmp_path):
    bench.main(['--quick', '--sections', 'scan,block', '--out',
                str(tmp_path), '--stmm-impl', 'auto', '--block-option',
                'delta_recompute=False', '--block-option',
                'stmm_cfg.with_cp=all'])
    res = json.loads((tmp_path / 'results.json').read_text())
    assert res['errors'] == {}
    scan = [r for r in res['scan'] if 'error' not in r]
    assert {(r['backend'], r['backward']) for r in scan} == {
        ('torch', False), ('torch', True)}
    assert all(r['ms'] > 0 for r in scan)
    blocks = {r['kind']: r for r in res['block']}
    assert set(blocks) == {'attention', 'gsm'}
    assert 'error' not in blocks['gsm'] and blocks['gsm']['ms'] > 0
    gsm_cfg = blocks['gsm']['gsm_cfg']
    assert gsm_cfg['stmm_cfg'] == dict(impl='auto', groups=4, with_cp='all')
    assert gsm_cfg['delta_recompute'] is False
    assert 'block w=32 gsm' in (tmp_path / 'table.txt').read_text()


def test_block_option_is_checked():
    bench = load_tool('benchmark.py')
    parser = bench.argparse.ArgumentParser()
    bench.add_block_arguments(parser)
    args = parser.parse_args(['--block-option', 'gate_cp'])
    with pytest.raises(ValueError, match='KEY=VALUE'):
        bench.set_block_arguments(args)
