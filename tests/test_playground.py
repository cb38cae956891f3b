import numpy as np
import pytest

from alwidgets import CriteriaPlayground, entropy, least_confidence, smallest_margin


def test_scores_follow_set_probs():
    pg = CriteriaPlayground(list("abcde"))
    np.testing.assert_allclose(pg.probs, 0.2)
    row = np.array([0.45, 0.44, 0.05, 0.03, 0.03])
    pg.set_probs(row)
    assert pg.scores["smallest margin"] == pytest.approx(smallest_margin([row])[0])
    assert pg.scores["entropy"] == pytest.approx(entropy([row])[0])
    assert "0.990" in pg.view.value  # the rendered view shows the new margin score


def test_moving_a_slider_keeps_the_row_normalised():
    pg = CriteriaPlayground(list("abcde"), probs=[0.4, 0.3, 0.1, 0.1, 0.1])
    pg.sliders[0].value = 0.8  # what the front-end does when a learner drags
    p = pg.probs
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(0.8)
    # the others keep their proportions 3:1:1:1
    np.testing.assert_allclose(p[1:] / p[1:].sum(), [0.5, 1 / 6, 1 / 6, 1 / 6])
    assert pg.scores["least confidence"] == pytest.approx(least_confidence([p])[0])
    pg.sliders[0].value = 1.0
    pg.sliders[0].value = 0.5  # the others were all 0: they share the rest evenly
    np.testing.assert_allclose(pg.probs, [0.5, 0.125, 0.125, 0.125, 0.125])


def test_bad_input_changes_nothing():
    pg = CriteriaPlayground(list("abc"), probs=[0.5, 0.3, 0.2])
    for bad in ([0.5, 0.6, 0.1], [0.5, 0.5], [[0.2, 0.8]], ["x", "y", "z"]):
        with pytest.raises((ValueError, TypeError)):
            pg.set_probs(bad)
    np.testing.assert_allclose(pg.probs, [0.5, 0.3, 0.2])


@pytest.mark.parametrize(
    "names, error", [(["a"], ValueError), (["a", "a"], ValueError), ("abc", TypeError)]
)
def test_bad_class_names(names, error):
    with pytest.raises(error):
        CriteriaPlayground(names)


def _browser_echo(pg, rounds=50):
    """What a slider's front end does: snap each value to the step (with JS's
    float arithmetic) and send it back when that differs. Returns the rounds
    it took to go quiet."""
    for r in range(rounds):
        changed = False
        for slider in pg.sliders:
            snapped = round(slider.value / slider.step) * slider.step
            if snapped != slider.value:
                slider.value = snapped
                changed = True
        if not changed:
            return r
    return rounds


def _check_shown(pg):
    shown = np.array([s.value for s in pg.sliders])
    assert round(shown.sum(), 6) == 1.0  # what is shown sums to 1
    assert np.all(np.abs(shown - pg.probs) <= 0.01 + 1e-9)  # and is probs, rounded
    np.testing.assert_allclose(shown, pg.shown, atol=1e-9)


def test_a_drag_settles_after_one_update():
    """Defect 1: 4-decimal values in 0.01-step sliders echoed back for ever."""
    pg = CriteriaPlayground(list("abcde"), probs=[0.4, 0.3, 0.1, 0.1, 0.1])
    for value in (0.57, 0.23, 0.9, 0.0, 1.0, 0.33):
        pg.sliders[1].value = value  # the learner drags
        updates = pg.n_updates
        probs = pg.probs
        assert _browser_echo(pg) <= 1
        assert pg.n_updates == updates  # echoes did not rescale the row
        np.testing.assert_array_equal(pg.probs, probs)
        assert pg.probs[1] == pytest.approx(value)
        _check_shown(pg)


@pytest.mark.parametrize(
    "row", [[1 / 3, 1 / 3, 1 / 3, 0, 0], [0.2] * 5, [0.123, 0.456, 0.021, 0.2, 0.2]]
)
def test_set_probs_settles_and_shows_a_row_summing_to_1(row):
    pg = CriteriaPlayground(list("abcde"))
    pg.set_probs(row)
    updates = pg.n_updates
    assert _browser_echo(pg) <= 1 and pg.n_updates == updates
    np.testing.assert_allclose(pg.probs, row)  # probs keep full precision
    _check_shown(pg)
