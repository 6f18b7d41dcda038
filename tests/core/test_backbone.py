import numpy as np
import torch
from PIL import Image

from tests.core.conftest import need_data
from vosam.backbones.efficientnet_lite import LITE_MEAN, LITE_STD, load_lite0


def _prep(path):
    im = Image.open(path).convert("RGB").resize((398, 224), Image.BILINEAR)
    im = im.crop((87, 0, 311, 224))
    x = torch.from_numpy(np.array(im)).permute(2, 0, 1).float()[None] / 255
    return (x - torch.tensor(LITE_MEAN)[:, None, None]) / torch.tensor(LITE_STD)[:, None, None]


def test_imagenet_prediction_on_a_real_frame():
    """The shipped weights load into the network written here: a flamingo is class 130."""
    frame = need_data("davis2016-train", "JPEGImages", "480p", "flamingo", "00000.jpg")
    model = load_lite0()
    with torch.no_grad():
        probs = model(_prep(frame)).softmax(1)[0]
    assert int(probs.argmax()) == 130
    assert float(probs[130]) > 0.4


def test_folding_batchnorm_keeps_features():
    model = load_lite0()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        before = model.features(x)
        after = load_lite0().fold_batchnorm().features(x)
    assert set(before) == {4, 8, 16, 32}
    assert before[16].shape == (1, 112, 4, 6)
    for k in before:
        torch.testing.assert_close(after[k], before[k], atol=2e-4, rtol=1e-4)


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    import pytest

    from vosam.errors import CheckpointError

    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match=r"bad\.pth"):
        load_lite0(bad)


def test_inference_path_equals_the_layer_by_layer_one():
    """Folded inference runs 1×1 convs as matrix products and pads strided depthwise convs
    before the expansion; on odd sizes (asymmetric "same" padding) it must still equal the
    plain convolutions."""
    model = load_lite0().fold_batchnorm().to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 37, 53).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fast = model.features(x)
    with torch.enable_grad():  # the generic path: the conv modules as they are
        plain = model.features(x)
    assert fast[32].shape == (1, 320, 2, 2)
    for k in plain:
        torch.testing.assert_close(fast[k], plain[k].detach(), atol=1e-4, rtol=1e-4)
