"""Metrics of the plugin (registered in ``mmpose.registry.METRICS``).

* ``PoseTrackMAP``: PoseTrack18/21 multi-person pose AP with poseval's
  definition, re-implemented in numpy (``posetrack_ap``), plus the
  acceleration error of matched predictions along GT tracks.
* ``JhmdbPCKMetric``: Sub-JHMDB PCK@0.2 (box) and tPCK (torso).
"""
from .jhmdb_metric import JhmdbPCKMetric
from .posetrack_metric import PoseTrackMAP

__all__ = ['JhmdbPCKMetric', 'PoseTrackMAP']
