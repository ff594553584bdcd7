"""tools/benchmark.py on the CPU: its smoke mode (``--quick``) must run the
scan and block sections and write what it measured (the GPU runs are the
tool's real use; this keeps it from rotting between them)."""
import json

from tool_loader import load_tool


def test_quick_scan_and_block(tmp_path):
    bench = load_tool('benchmark.py')
    bench.main(['--quick', '--sections', 'scan,block', '--out',
                str(tmp_path), '--stmm-impl', 'auto'])
    res = json.loads((tmp_path / 'results.json').read_text())
    assert res['errors'] == {}
    scan = [r for r in res['scan'] if 'error' not in r]
    assert {(r['backend'], r['backward']) for r in scan} == {
        ('torch', False), ('torch', True)}
    assert all(r['ms'] > 0 for r in scan)
    blocks = {r['kind']: r for r in res['block']}
    assert set(blocks) == {'attention', 'gsm'}
    assert 'error' not in blocks['gsm'] and blocks['gsm']['ms'] > 0
    assert blocks['gsm']['gsm_cfg']['stmm_cfg']['impl'] == 'auto'
    assert 'block w=32 gsm' in (tmp_path / 'table.txt').read_text()
