"""Second look at review 8 of TIFF reading: the refusal of a TIFF of 5+ samples a pixel names
the first value of its layout that eventsim does not read; a file without the photometric
interpretation (tag 262, no default) was said to hold ``tag 262 = -1``, a value it does not."""

from __future__ import annotations

import numpy as np
import pytest
from test_sources_second_look6 import _tiff

from eventsim.errors import InputError
from eventsim.simulator.sources import decode_image

from cli_checks import one_line


def test_five_samples_without_a_photometric_interpretation_say_so():
    data = _tiff([(np.zeros((4, 6, 5), np.uint8), {262: None})])
    with pytest.raises(InputError) as err:
        decode_image(data, "five.tif")
    line = one_line(str(err.value), "'five.tif'", "5 samples", "without a photometric", "tag 262")
    assert "-1" not in line


def test_five_samples_of_an_unread_photometric_name_its_value():
    data = _tiff([(np.zeros((4, 6, 5), np.uint8), {262: (3, [5])})])
    with pytest.raises(InputError) as err:
        decode_image(data, "cmyk.tif")
    one_line(str(err.value), "'cmyk.tif'", "photometric interpretation (tag 262 = 5)")
