import numpy as np
import pytest

from vosam.engines.slots import ObjectSlots


def test_entry_order_appends_and_keeps_earlier_slots():
    slots = ObjectSlots("entry")
    assert slots.add_from(np.array([[0, 7], [3, 255]], np.uint8)) == (3, 7)
    assert slots.add([5, 3]) == (5,)
    assert slots.ids == (3, 7, 5)
    assert slots.sorted_ids == (3, 5, 7)
    assert slots.by_id() == [0, 2, 1]
    assert slots.remove(3) == 0
    assert slots.ids == (7, 5)
    assert slots.slot(5) == 1


def test_sorted_order_places_new_ids_between():
    slots = ObjectSlots("sorted")
    slots.add([2, 9])
    slots.add([4])
    assert slots.ids == (2, 4, 9)
    assert slots.slot(9) == 2
    assert slots.by_id() == [0, 1, 2]


def test_unknown_ids_and_bad_ids_are_errors():
    slots = ObjectSlots()
    with pytest.raises(KeyError, match="object 4 is not tracked"):
        slots.remove(4)
    with pytest.raises(ValueError, match=r"1\.\.254"):
        slots.add([0])
    with pytest.raises(ValueError, match="'entry' or 'sorted'"):
        ObjectSlots("random")  # type: ignore[arg-type]
    assert len(slots) == 0 and 4 not in slots
