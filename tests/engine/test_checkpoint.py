"""sapa_mm.engine.checkpoint: torch.load(weights_only=True), as mmengine
loads checkpoints, takes mmengine's checkpoints and refuses anything else."""
import os

import pytest
import torch

pytest.importorskip('mmengine')


def test_tampered_checkpoint_is_refused(tmp_path):
    import sapa_mm  # noqa: F401  (registers the allow-list)

    class Payload:

        def __reduce__(self):
            return (os.system, ('echo tampered',))

    path = str(tmp_path / 'tampered.pth')
    torch.save({'state_dict': {}, 'meta': Payload()}, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path, map_location='cpu')
    # getattr is only resolved for HistoryBuffer's statistics
    from mmengine.logging import HistoryBuffer

    class GetattrPayload:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    torch.save({'x': GetattrPayload()}, path)
    with pytest.raises(Exception, match='only HistoryBuffer statistics'):
        torch.load(path, map_location='cpu')


def test_mmengine_checkpoint_contents_load(tmp_path):
    """What mmengine's checkpoints hold besides tensors (the message hub's
    HistoryBuffers, numpy arrays and scalars) loads with weights_only=True."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    import sapa_mm  # noqa: F401  (registers the allow-list)
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 6.0):
        buffer.update(value)
    path = str(tmp_path / 'checkpoint.pth')
    torch.save({'state_dict': {'w': torch.ones(2)},
                'message_hub': {'loss': buffer},
                'meta': {'seed': np.int64(7), 'dataset_meta': {
                    'palette': np.arange(6, dtype=np.uint8).reshape(2, 3)}}},
               path)
    state = torch.load(path, map_location='cpu', weights_only=True)
    assert torch.equal(state['state_dict']['w'], torch.ones(2))
    assert state['message_hub']['loss'].mean() == 3.0
    assert state['message_hub']['loss'].max() == 6.0
    assert state['meta']['seed'] == 7
    assert state['meta']['dataset_meta']['palette'].tolist() == [[0, 1, 2],
                                                                 [3, 4, 5]]
