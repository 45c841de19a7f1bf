"""Batched augmentation: presets that fit the data, per-image draws, seeded."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from trueclass import TrueclassError  # noqa: E402
from trueclass.training import PRESETS, augment_batch, default_preset_for, preset  # noqa: E402
from trueclass.training._augment import Augment  # noqa: E402


def batch(n=64, size=16):
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, 1, size, size)
    x[:, :, 4:12, 2:6] = 1.0  # a bar on the left
    return x + 0.0 * torch.rand(n, 1, size, size, generator=g)


def test_presets_fit_the_kind_of_data():
    assert not PRESETS["digits"].hflip and not PRESETS["digits"].vflip and PRESETS["digits"].rotate <= 15
    assert not PRESETS["text"].hflip
    assert PRESETS["clothing"].hflip and PRESETS["photos"].hflip
    assert default_preset_for("digits").name == "digits"
    assert default_preset_for("fashion-mnist").name == "clothing"
    safe = default_preset_for("/home/me/photos")
    assert safe.name == "safe" and not safe.hflip and safe.rotate == 0 and safe.translate > 0
    with pytest.raises(TrueclassError, match="no augmentation preset 'wild'"):
        preset("wild")


def test_none_is_identity_and_same_seed_same_batch():
    x = batch()
    assert torch.equal(augment_batch(x, PRESETS["none"], torch.Generator().manual_seed(1)), x)
    a = augment_batch(x, PRESETS["photos"], torch.Generator().manual_seed(1))
    b = augment_batch(x, PRESETS["photos"], torch.Generator().manual_seed(1))
    c = augment_batch(x, PRESETS["photos"], torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_process_augments_its_rows_of_the_batch_as_one_process_would(name):
    # under torchrun each process drew from the same seed for its own rows alone: every
    # process gave its first image the flip and shift of the batch's first image
    x = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    aug = PRESETS[name] if name != "none" else Augment("all", hflip=True, shift=2, rotate=10, brightness=0.2,
                                                        contrast=0.2, erase=0.5)
    whole = augment_batch(x, aug, torch.Generator().manual_seed(5))
    shares = [augment_batch(x[lo:hi], aug, torch.Generator().manual_seed(5), (lo, len(x)))
              for lo, hi in ((0, 6), (6, 12))]
    assert torch.allclose(torch.cat(shares), whole, atol=1e-6)
    if not torch.equal(whole, x):
        own = augment_batch(x[6:], aug, torch.Generator().manual_seed(5))  # drawn for its rows alone
        assert not torch.allclose(own, whole[6:], atol=1e-6)


def test_flips_are_drawn_per_image():
    x = batch()
    out = augment_batch(x, Augment("flip", hflip=True), torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54  # about half


def test_shifts_move_the_bar_a_little():
    x = batch()
    out = augment_batch(x, Augment("t", translate=0.125), torch.Generator().manual_seed(0))
    centre = lambda t: (t[0].sum(0) * torch.arange(16.0)).sum() / t[0].sum(0).sum()  # noqa: E731
    shifts = torch.tensor([float(centre(o) - centre(xi)) for o, xi in zip(out, x)])
    assert shifts.abs().max() <= 2.6 and shifts.abs().max() > 0.5


def test_erasing_blanks_a_rectangle_in_some_images():
    x = torch.ones(64, 1, 16, 16)
    out = augment_batch(x, Augment("e", erase=0.5), torch.Generator().manual_seed(0))
    erased = (out == 0).flatten(1).any(1)
    assert 10 < int(erased.sum()) < 54


def test_whole_pixel_shifts_move_each_image_by_whole_pixels_without_blur():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(128, 1, 12, 12, generator=g)
    out = augment_batch(x, Augment("s", shift=2), torch.Generator().manual_seed(3))
    assert torch.equal(augment_batch(x, Augment("s", shift=2), torch.Generator().manual_seed(3)), out)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = []
    for i in range(len(x)):
        # every output is exactly one 12x12 window of its zero-padded input: no new values
        match = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 12, dx:dx + 12])]
        assert len(match) == 1
        offsets.append(match[0])
    assert len(set(offsets)) == 25  # all 25 offsets, drawn per image
    reflected = augment_batch(x, Augment("s", shift=2, fill="reflection"), torch.Generator().manual_seed(3))
    assert (reflected > 0).all()  # the border repeats the image instead of black
    assert PRESETS["clothing"].shift == 2 and PRESETS["clothing"].to_dict()["shift"] == 2


def test_tta_views_shift_by_a_whole_pixel_and_fill_the_edge_with_black():
    from trueclass.training import TTA_MODES, tta_views

    x = torch.arange(2 * 1 * 4 * 5, dtype=torch.float32).reshape(2, 1, 4, 5) + 1
    assert [len(tta_views(x, m)) for m in (None, "hflip", "shift", "hflip+shift")] == [1, 2, 5, 10]
    assert set(TTA_MODES) == {"hflip", "shift", "hflip+shift"}
    views = tta_views(x, "hflip+shift")
    assert views[0] is x and torch.equal(views[1], x.flip(3))
    down, up, right, left = views[2:6]
    assert torch.equal(down[:, :, 1:], x[:, :, :-1]) and (down[:, :, 0] == 0).all()  # nothing wraps around
    assert torch.equal(up[:, :, :-1], x[:, :, 1:]) and (up[:, :, -1] == 0).all()
    assert torch.equal(right[..., 1:], x[..., :-1]) and (right[..., 0] == 0).all()
    assert torch.equal(left[..., :-1], x[..., 1:]) and (left[..., -1] == 0).all()
    assert torch.equal(views[6][:, :, 1:], x.flip(3)[:, :, :-1])  # the mirrored image's shifts follow
    assert all(v.shape == x.shape for v in views)
    with pytest.raises(TrueclassError, match="Unknown test-time augmentation 'roll'"):
        tta_views(x, "roll")
