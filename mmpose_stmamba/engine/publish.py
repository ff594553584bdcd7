"""Publish a runner checkpoint: weights and useful meta, hash in the name.

References:
    Follows the convention of MMPose's ``tools/misc/publish_model.py`` (and
    of OpenMMLab model zoos in general): drop the training state that only
    ``--resume`` needs, save, and append the first 8 hex digits of the
    file's sha256 to its name, ``<name>-<sha8>.pth``, so a downloaded file
    can be checked against its name.  Which meta keys to keep is our own
    choice (see :data:`KEPT_META`); the date suffix MMPose adds is optional
    here.
"""
import datetime
import hashlib
import os
import os.path as osp
import tempfile

import torch

#: Top-level keys of a runner checkpoint that only resuming needs.
TRAINING_STATE_KEYS = ('optimizer', 'param_schedulers', 'message_hub',
                       'ema_state_dict', 'amp', 'scaler')

#: ``meta`` keys kept: what a user or ``init_model`` needs to know what the
#: weights are (``dataset_meta`` is read by ``mmpose.apis.init_model``;
#: ``cfg`` is the full training config as text; ``epoch``/``iter`` tell how
#: long it trained).  Everything else in ``meta`` (hook messages such as the
#: path of the last checkpoint on the training machine) is dropped.
KEPT_META = ('epoch', 'iter', 'cfg', 'dataset_meta', 'seed',
             'experiment_name', 'time', 'mmengine_version')


def sha256_of(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks.

    Args:
        path (str): The file.
        chunk_size (int): Bytes per read. Defaults to 1 MiB.

    Returns:
        str: 64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def strip_checkpoint(checkpoint, source=None):
    """A copy of a runner checkpoint with the training state removed.

    Args:
        checkpoint (dict): As loaded from a runner checkpoint; must hold
            ``state_dict``.
        source (str, optional): Name of the file it came from, recorded in
            ``meta['published_from']``. Defaults to None.

    Returns:
        dict: ``{'meta': {...}, 'state_dict': {...}}``.
    """
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else []
        raise ValueError('not a runner checkpoint: expected a dict with a '
                         f'"state_dict" key, got {type(checkpoint).__name__} '
                         f'with keys {keys}')
    from mmpose_stmamba import __version__
    meta = {
        k: v
        for k, v in (checkpoint.get('meta') or {}).items() if k in KEPT_META
    }
    meta['mmpose_stmamba_version'] = __version__
    meta['torch_version'] = str(torch.__version__)  # not TorchVersion
    if source is not None:
        meta['published_from'] = osp.basename(source)
    state_dict = checkpoint['state_dict']
    # Tensors may share storage with optimizer state; cloning keeps the
    # saved file to the weights alone.
    state_dict = type(state_dict)(
        (k, v.detach().clone() if torch.is_tensor(v) else v)
        for k, v in state_dict.items())
    return dict(meta=meta, state_dict=state_dict)


def published_name(out_file, sha256, date=None):
    """``<stem>-<sha8>[_<date>].pth`` beside ``out_file``.

    Args:
        out_file (str): Requested output path (``.pth``).
        sha256 (str): Hex digest of the saved file.
        date (str, optional): ``YYYYMMDD`` appended after the hash, as
            MMPose's release files do. Defaults to None.

    Returns:
        str: The final path.
    """
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    suffix = f'-{sha256[:8]}' + (f'_{date}' if date else '')
    return stem + suffix + '.pth'


def publish_checkpoint(in_file, out_file, add_date=False):
    """Strip ``in_file``, save it, and rename it with its hash.

    The file is written to a temporary name in the output folder, hashed,
    checked to load again with ``torch.load(weights_only=True)``, then
    renamed, so an interrupted run leaves no half-written published file.

    Args:
        in_file (str): A runner checkpoint (``epoch_N.pth``, ``best_*.pth``).
        out_file (str): Output path; the hash is inserted before ``.pth``.
        add_date (bool): Also append ``_YYYYMMDD`` (today, UTC).
            Defaults to False.

    Returns:
        str: Path of the published checkpoint.
    """
    import mmpose_stmamba.engine  # noqa: F401  (allow-lists the globals)
    if not out_file.endswith('.pth'):
        raise ValueError(f'out_file must end with .pth, got {out_file!r}')
    checkpoint = torch.load(in_file, map_location='cpu', weights_only=True)
    published = strip_checkpoint(checkpoint, source=in_file)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.pth.part', dir=out_dir)
    os.close(fd)
    try:
        torch.save(published, tmp)
        # mkstemp creates the file 0600; give it the usual umask mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        torch.load(tmp, map_location='cpu', weights_only=True)
        date = (datetime.datetime.now(datetime.timezone.utc)
                .strftime('%Y%m%d') if add_date else None)
        final = published_name(out_file, sha256_of(tmp), date)
        os.replace(tmp, final)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return final
