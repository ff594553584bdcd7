# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Average Sub-JHMDB results over the three splits.

References:
    Sub-JHMDB is reported as the mean of the three train/test splits (the
    video pose lineage, e.g. LSTM Pose Machines, DCPose; MMPose's JHMDB
    model zoo lists the per-split numbers and their mean). Each input is a
    JSON object of metric name -> number, such as the metrics file that
    ``mim test`` / MMEngine writes (``<work_dir>/<time>/<time>.json``);
    only keys present in all inputs are averaged.

Example:
    python tools/eval_jhmdb_splits.py sub1.json sub2.json sub3.json \\
        --out jhmdb_mean.json
"""
import argparse
import json
from typing import Dict, List


def load_metrics(path: str) -> Dict[str, float]:
    """Numeric entries of a metrics JSON (the last line if JSON lines)."""
    with open(path) as f:
        text = f.read().strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = json.loads(text.splitlines()[-1])
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics')
    return {
        k: float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def average_splits(results: List[Dict[str, float]]) -> Dict[str, float]:
    """Mean of each metric present in every split.

    Args:
        results (list[dict]): one dict of metrics per split.

    Returns:
        dict[str, float]: key -> mean, keys in the first split's order.
    """
    if not results:
        raise ValueError('no split results given')
    common = [k for k in results[0] if all(k in r for r in results[1:])]
    return {k: sum(r[k] for r in results) / len(results) for k in common}


def main(argv=None) -> Dict[str, float]:
    p = argparse.ArgumentParser(description='Average Sub-JHMDB splits')
    p.add_argument('results', nargs='+', help='metrics JSON per split')
    p.add_argument('--out', help='write the mean here (json)')
    args = p.parse_args(argv)
    if len(args.results) != 3:
        print(f'warning: {len(args.results)} splits given, Sub-JHMDB has 3')
    per_split = [load_metrics(r) for r in args.results]
    mean = average_splits(per_split)
    width = max([len(k) for k in mean] + [6])
    print(f'{"metric":<{width}} ' +
          ' '.join(f'{"split" + str(i + 1):>7}'
                   for i in range(len(per_split))) + f' {"mean":>7}')
    for k, v in mean.items():
        cells = ' '.join(f'{r[k]:7.2f}' for r in per_split)
        print(f'{k:<{width}} {cells} {v:7.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(mean, f, indent=2)
    return mean


if __name__ == '__main__':
    main()
