import numpy as np
import pytest
import torch

from genomics.data.encoding import (
    decode,
    encode,
    invalid_positions,
    one_hot,
    one_hot_torch,
    reverse_complement_codes,
    reverse_complement_one_hot,
)


def test_encode_hand_values():
    codes = encode("ACGTNacgtnRYKM")
    assert codes.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4, 4, 4]
    assert codes.dtype == np.uint8


def test_encode_marks_non_bases():
    codes = encode("AC-G*1")
    assert invalid_positions(codes).tolist() == [2, 4, 5]


def test_decode_roundtrip():
    assert decode(encode("acgTNr")) == "ACGTNN"


def test_one_hot_hand_values():
    x = one_hot(encode("ACGTN"))
    assert x.shape == (4, 5)
    expected = np.array(
        [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=np.float32
    )
    np.testing.assert_array_equal(x, expected)


def test_one_hot_batched_and_torch_agree():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(3, 50)).astype(np.uint8)
    x = one_hot(codes)
    assert x.shape == (3, 4, 50) and x.flags.c_contiguous  # collates without a copy
    xt = one_hot_torch(torch.from_numpy(codes))
    np.testing.assert_array_equal(xt.numpy(), x)
    for b in range(3):
        np.testing.assert_array_equal(x[b], one_hot(codes[b]))


def test_reverse_complement_hand_and_involution():
    codes = encode("AACGTN")
    assert decode(reverse_complement_codes(codes)) == "NACGTT"
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, size=1000).astype(np.uint8)
    np.testing.assert_array_equal(reverse_complement_codes(reverse_complement_codes(codes)), codes)


@pytest.mark.parametrize("as_torch", [False, True])
def test_one_hot_reverse_complement_matches_codes(as_torch):
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5, size=200).astype(np.uint8)
    x = one_hot(codes)
    x = torch.from_numpy(x) if as_torch else x
    rc = reverse_complement_one_hot(x)
    rc = rc.numpy() if as_torch else rc
    np.testing.assert_array_equal(rc, one_hot(reverse_complement_codes(codes)))
