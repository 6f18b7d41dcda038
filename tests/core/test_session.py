import numpy as np
import pytest

from vosam.errors import InputError, MaskSizeError
from vosam.session import Session


def test_no_annotation_is_an_error(fast_engine, squares_dir):
    folder, _, _ = squares_dir
    session = Session(folder, propagator=fast_engine)
    with pytest.raises(InputError, match="no annotation"):
        next(session.propagate())


@pytest.mark.parametrize("fill", [0, 255])
def test_an_annotation_without_objects_is_an_input_error(fast_engine, squares_dir, fill):
    folder, images, _ = squares_dir
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, np.full(images.shape[1:3], fill, np.uint8))
    with pytest.raises(InputError, match="no object to track"):
        next(session.propagate())


def test_annotation_checks(fast_engine, squares_dir):
    folder, _, masks = squares_dir
    session = Session(folder, propagator=fast_engine)
    with pytest.raises(InputError, match="frame 99 is not in the video"):
        session.add_annotation(99, masks[0])
    with pytest.raises(MaskSizeError, match="is 10×5 but frames are 128×96"):
        session.add_annotation(0, np.zeros((5, 10), np.uint8))


def test_objects_keep_their_ids_across_removal(fast_engine, squares_dir):
    folder, _, masks = squares_dir
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, masks[0], names={2: "blue"})
    assert session.objects.ids == (1, 2)
    assert session.objects.names[2] == "blue"
    session.remove_object(1)
    assert session.objects.ids == (2,)
    assert set(np.unique(session.annotations[0])) == {0, 2}
    results = dict(session.propagate(stop=3))
    assert results[2].object_ids == (2,)
    assert set(np.unique(results[2].mask)) <= {0, 2}
    assert session.first_annotated() == {2: 0}
