"""Helpers shared by the clip datasets: frame naming, clips, bad-input log.

References: the clip layout follows docs/design.md ("Clips in the data
pipeline"); clamping supporting frames to the video's first/last frame is
what MMPose's ``PoseTrack18VideoDataset`` and PoseWarper (Bertasius et al.,
NeurIPS 2019) do.  Deciding the frame naming (digits, first index) per video
from the files on disk is our own choice: PoseTrack17 uses ``%08d.jpg``
starting at 1, PoseTrack18/21 ``%06d.jpg`` starting at 0, Sub-JHMDB
``%05d.png`` starting at 1, and a mixed data root must still work.
"""
import logging
import os
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

_NUMBERED = re.compile(r'^(\d+)(\.[A-Za-z0-9]+)$')


class DataFormatError(ValueError):
    """Bad annotation or detection data; the message names file and field."""


def data_error(file: str, field: str, problem: str) -> DataFormatError:
    """Build a :class:`DataFormatError` whose message names file and field.

    Args:
        file (str): The file that holds the bad data.
        field (str): The field, e.g. ``'annotations[3].bbox'``.
        problem (str): What is wrong with it.

    Returns:
        DataFormatError: The error, to be raised by the caller.
    """
    return DataFormatError(f'{file}: field `{field}`: {problem}')


def check_frame_offsets(frame_offsets: Sequence[int]) -> Tuple[int, ...]:
    """Validate clip offsets: distinct ints that include the key frame 0.

    Args:
        frame_offsets (Sequence[int]): Offsets relative to the key frame.

    Returns:
        tuple[int]: The offsets as a tuple of ints.
    """
    offsets = tuple(frame_offsets)
    if (not offsets or not all(isinstance(o, int) for o in offsets)
            or 0 not in offsets or len(set(offsets)) != len(offsets)):
        raise ValueError('frame_offsets must be distinct ints including 0 '
                         f'(the key frame), got {frame_offsets!r}')
    return offsets


@dataclass(frozen=True)
class VideoFrames:
    """How the frames of one video folder are named.

    Attributes:
        folder (str): The folder that holds the frames.
        digits (int): Zero-padded width of the frame number.
        ext (str): File extension including the dot, e.g. ``'.jpg'``.
        first (int): Index of the video's first frame (0 or 1).
        last (int): Index of the video's last frame.
        source (str): How ``first`` was decided: ``'disk'`` (a file with
            index 0 or 1 exists) or ``'convention'`` (none did).
    """
    folder: str
    digits: int
    ext: str
    first: int
    last: int
    source: str

    def path(self, index: int) -> str:
        """Path of frame ``index`` (not clamped)."""
        return osp.join(self.folder, f'{index:0{self.digits}d}{self.ext}')

    def clip(self, key_index: int,
             offsets: Sequence[int]) -> Tuple[List[int], List[str]]:
        """Frame indices and paths of a clip, clamped to the video.

        Args:
            key_index (int): Index of the key frame.
            offsets (Sequence[int]): Offsets relative to the key frame.

        Returns:
            tuple: ``(indices, paths)``, one entry per offset.
        """
        indices = [
            min(max(key_index + o, self.first), self.last) for o in offsets
        ]
        return indices, [self.path(i) for i in indices]


class FrameNaming:
    """Decides, per video folder, how its frames are named and numbered.

    The key frame's own file name gives the digits and the extension.  The
    first index is 0 when a file numbered 0 exists in the folder, else 1
    when a file numbered 1 exists, else ``convention(digits)``.  Folder
    listings are cached, so a data set lists each folder once.

    Args:
        convention (callable): Maps the digit count to the first index used
            when the folder has neither frame 0 nor frame 1 on disk.
    """

    def __init__(self, convention):
        self.convention = convention
        self._listing: Dict[str, set] = {}

    def _numbers(self, folder: str, digits: int, ext: str) -> set:
        key = f'{folder}|{digits}|{ext}'
        if key not in self._listing:
            numbers = set()
            if osp.isdir(folder):
                for name in os.listdir(folder):
                    m = _NUMBERED.match(name)
                    if m and len(m.group(1)) == digits and m.group(2) == ext:
                        numbers.add(int(m.group(1)))
            self._listing[key] = numbers
        return self._listing[key]

    def resolve(self, key_path: str, nframes: int, file: str,
                field: str) -> Tuple[VideoFrames, int]:
        """Frame naming of the video that holds ``key_path``.

        Args:
            key_path (str): Path of the key frame.
            nframes (int): Number of frames in the whole video.
            file (str): Annotation file, for error messages.
            field (str): Field that gave ``key_path``, for error messages.

        Returns:
            tuple: ``(VideoFrames, key_index)``.
        """
        folder, name = osp.split(key_path)
        m = _NUMBERED.match(name)
        if m is None:
            raise data_error(
                file, field, f'frame file name {name!r} is not a zero-padded '
                'frame number with an extension (e.g. 000012.jpg)')
        digits, ext = len(m.group(1)), m.group(2)
        key_index = int(m.group(1))
        numbers = self._numbers(folder, digits, ext)
        if 0 in numbers:
            first, source = 0, 'disk'
        elif 1 in numbers:
            first, source = 1, 'disk'
        else:
            first, source = self.convention(digits), 'convention'
        first = min(first, key_index)
        last = first + int(nframes) - 1
        if key_index > last:
            raise data_error(
                file, field, f'key frame {name} lies beyond the video end: '
                f'nframes={nframes} with first frame {first}')
        return VideoFrames(folder, digits, ext, first, last, source), key_index


class SkipLog:
    """Counts the instances a data set leaves out, by documented reason.

    Nothing is dropped silently: every skip is counted here with a few
    examples, and :meth:`report` logs one summary line per reason.

    Args:
        reasons (dict): Reason name -> one-line explanation (documented in
            the data set's docstring).
    """

    def __init__(self, reasons: Dict[str, str]):
        self.reasons = reasons
        self.counts: Dict[str, int] = OrderedDict((r, 0) for r in reasons)
        self.examples: Dict[str, List[str]] = {r: [] for r in reasons}

    def add(self, reason: str, example: str, n: int = 1) -> None:
        """Count ``n`` skips for ``reason`` (a key of ``reasons``)."""
        self.counts[reason] += n
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(example)

    def report(self, owner: str, logger: str = 'current') -> None:
        """Log one WARNING line per reason that has a non-zero count."""
        for reason, n in self.counts.items():
            if n:
                print_log(
                    f'{owner}: {n} x {reason} ({self.reasons[reason]}); '
                    f'e.g. {"; ".join(self.examples[reason])}',
                    logger=logger,
                    level=logging.WARNING)


def as_int(value, file: str, field: str) -> int:
    """``int(value)`` or a :class:`DataFormatError` naming the field."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise data_error(file, field, f'expected an integer, got {value!r}')


def as_floats(value, n: Optional[int], file: str, field: str) -> List[float]:
    """A flat list of ``n`` finite floats or a :class:`DataFormatError`."""
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise data_error(
            file, field, 'expected a list of numbers, got '
            f'{str(value)[:60]}')
    if n is not None and len(out) != n:
        raise data_error(file, field, f'expected {n} numbers, got {len(out)}')
    if any(v != v or v in (float('inf'), float('-inf')) for v in out):
        raise data_error(file, field, 'contains NaN or inf')
    return out
