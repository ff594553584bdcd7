"""Tests of tools/temporal_evidence.py: the occluded-joint AP on hand-made
files, the flash occluders, and one very small end-to-end run whose
outputs must be complete and well-formed (not its AP: that needs the real
schedule).
"""
import json

import numpy as np
import pytest
from tool_loader import load_tool


@pytest.fixture(scope='module')
def tool():
    return load_tool('temporal_evidence.py')


KEYPOINTS = ('nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear',
             'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
             'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
             'left_knee', 'right_knee', 'left_ankle', 'right_ankle')


def _video(people, occluded=None, scores=None):
    """One-frame PoseTrack18 video; ``people`` is a list of (17, 2)."""
    anns = []
    for i, xy in enumerate(people):
        kpt = np.concatenate([xy, np.ones((17, 1))], 1)
        kpt[3:5] = 0  # no ears, as in PoseTrack18
        ann = dict(
            id=i, image_id=1, track_id=i, category_id=1,
            keypoints=kpt.reshape(-1).tolist(),
            bbox_head=[float(xy[0, 0]) - 10, float(xy[0, 1]) - 10, 20, 20])
        if occluded is not None:
            ann['occluded'] = [int(o) for o in occluded[i]]
        if scores is not None:
            ann['scores'] = list(scores[i])
        anns.append(ann)
    return dict(
        images=[dict(id=1, file_name='images/val/v/000000.jpg',
                     is_labeled=True, ignore_regions_x=[],
                     ignore_regions_y=[])],
        annotations=anns,
        categories=[dict(id=1, name='person', keypoints=list(KEYPOINTS))])


def _write(folder, name, obj):
    folder.mkdir(exist_ok=True)
    with open(folder / name, 'w') as f:
        json.dump(obj, f)


def test_subset_ap_separates_occluded_joints(tool, tmp_path):
    rng = np.random.default_rng(0)
    people = [rng.uniform(50, 150, (17, 2)) + 200 * i for i in range(2)]
    occluded = np.zeros((2, 17), bool)
    occluded[0, [7, 9]] = True  # left elbow and wrist of person 0
    occluded[1, [14]] = True
    _write(tmp_path / 'gt', 'v.json', _video(people, occluded))
    # perfect on visible joints, 50 px off on the occluded ones
    pred = [p.copy() for p in people]
    for i in range(2):
        pred[i][occluded[i]] += 50
    scores = np.ones((2, 17))
    _write(tmp_path / 'pred', 'v.json', _video(pred, scores=scores))
    res = tool.subset_ap(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
    assert res['AP_visible'] == pytest.approx(100.0)
    assert res['AP_occluded'] == pytest.approx(0.0)
    assert 0 < res['AP'] < 100
    assert res['num_occluded'] == 3
    assert res['num_joints'] == 30


def test_subset_ap_needs_occluded_flags(tool, tmp_path):
    people = [np.full((17, 2), 100.0)]
    _write(tmp_path / 'gt', 'v.json', _video(people))
    _write(tmp_path / 'pred', 'v.json', _video(people, scores=[[1] * 17]))
    with pytest.raises(ValueError, match='occluded'):
        tool.subset_ap(str(tmp_path / 'gt'), str(tmp_path / 'pred'))


def test_flash_occluders_are_brief(tool):
    gen = tool.load_generator()
    args = gen.parse_args([
        '--out', 'unused', '--videos', '1', '--seed', '3', '--frames', '12',
        '--people', '2', '--occluders', '5', '--size', '96x72'
    ])
    rng = np.random.default_rng(0)
    with tool.flash_occluders(gen, max_occlusion=2):
        _, _, _, _ = gen.make_video(rng, args, 1, 'val')
        occ = [gen.Occluder(rng, (96, 72), 12, 40.0) for _ in range(20)]
    assert all(1 <= o.t1 - o.t0 <= 2 for o in occ)
    assert all(o.vx == 0 for o in occ)
    # the generator's own classes are back afterwards
    assert gen.Occluder.__name__ == 'Occluder'
    assert gen.Person.__name__ == 'Person'


def test_end_to_end_outputs(tool, tmp_path):
    out = tmp_path / 'ev'
    result = tool.main([
        '--tiny', '--out', str(out), '--seed', '5', '--num-seeds', '2',
        '--variants', 'single', 'gsm_lrm', '--jobs', '0', '--iters', '2',
        '--batch-size', '2', '--train-videos', '1', '--val-videos', '1',
        '--frames', '6', '--occluders', '4', '--input-size', '32', '48',
        '--frame-size', '96', '72', '--embed-dims', '16', '--d-state', '2'
    ])
    for name in ('results.json', 'results.md', 'results.png'):
        assert (out / name).is_file(), name
    with open(out / 'results.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(out / 'results.json') as f:
        saved = json.load(f)
    assert saved['info']['seeds'] == [5, 6]
    assert saved['info']['complete'] is True
    assert [r['variant'] for r in saved['variants']] == ['single', 'gsm_lrm']
    assert len(saved['runs']) == 4
    for row in saved['variants']:
        for key in ('AP', 'AP_occluded', 'AP_visible'):
            runs = row[key + '_runs']
            assert len(runs) == 2
            assert all(0 <= v <= 100 for v in runs if v is not None)
            assert row[key + '_std'] >= 0
    for run in saved['runs']:
        # our pooled AP is the metric's AP, recomputed from its files
        assert run['AP'] == pytest.approx(run['metric_AP'], abs=1e-6)
        assert run['params_M'] > 0
    single, clip = saved['variants']
    assert clip['params_M'] > single['params_M']
    assert 'target' in saved['info']
    table = (out / 'results.md').read_text()
    assert table.count('\n| (') == 2  # one row per variant
    assert 'Machine:' in table
    assert result['info']['data_seed'] == 5


def test_pick_scan_backend_checks_against_torch(tool):
    size = dict(clip=3, input_size=(16, 16), embed_dims=4, d_state=2)
    best, report = tool.pick_scan_backend(
        size, batch=1, device='cpu', candidates=('ref', 'torch', 'nope'))
    assert best in ('ref', 'torch')
    assert 'ms' in report['ref'] and 'ms' in report['torch']
    assert 'error' in report['nope']
