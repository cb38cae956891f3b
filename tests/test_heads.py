import warnings

import keras
import numpy as np
import pytest

from alwidgets import data, heads
from alwidgets.heads import HeadTrainer, expected_calibration_error


def _blobs(n, seed, k=3, d=10, spread=1.5):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1.5, (k, d))
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(0, spread, (n, d))).astype(np.float32), y


def test_same_data_same_head_and_it_learns():
    train, val, test = _blobs(200, 0), _blobs(100, 1), _blobs(300, 2)
    a = HeadTrainer().fit(*train, 3, val)
    b = HeadTrainer().fit(*train, 3, val)
    np.testing.assert_array_equal(a.predict_proba(test[0]), b.predict_proba(test[0]))
    assert (a.predict_proba(test[0]).argmax(1) == test[1]).mean() > 0.8
    assert a.l2 in heads.L2_GRID and a.l2 == min(a.l2_scores, key=a.l2_scores.get)


def test_fixed_strength_is_the_optimum_logistic_regression_finds():
    """Fitted to convergence: the same minimiser as scikit-learn's, with C = 1 / (n l2)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _blobs(150, 0, d=12, spread=2.5)
    test = _blobs(200, 1, d=12, spread=2.5)[0]
    for l2 in (0.1, 0.001):
        ours = HeadTrainer(l2=l2).fit(x, y, 3)  # no validation: no temperature
        assert ours.temperature == 1.0 and ours.l2 == l2 and ours.l2_scores == {}
        scaler = StandardScaler().fit(x.astype(np.float64))
        lr = LogisticRegression(C=1 / (l2 * len(x)), tol=1e-10, max_iter=10_000)
        lr.fit(scaler.transform(x), y)
        np.testing.assert_allclose(
            ours.predict_proba(test),
            lr.predict_proba(scaler.transform(test)),
            atol=1e-4,
        )


def test_a_feature_constant_in_the_labelled_set_cannot_blow_up():
    """Zero variance in the labelled images -> scale 1 (not 1e-6), whatever the pool holds."""
    train, val, test = _blobs(60, 0), _blobs(100, 1), _blobs(300, 2)

    def with_column(xy, values):
        return np.column_stack([xy[0], values]).astype(np.float32), xy[1]

    rng = np.random.default_rng(3)
    plain = HeadTrainer().fit(*train, 3, val)
    widened = HeadTrainer().fit(
        *with_column(train, np.full(60, 0.3)),  # constant here...
        3,
        with_column(val, rng.normal(0, 5, 100)),  # ...but not elsewhere
    )
    assert widened.scale[-1] == 1.0 and widened.mean[-1] == pytest.approx(0.3)
    x_wide = with_column(test, rng.normal(0, 5, 300))[0]
    p = widened.predict_proba(x_wide)
    assert np.isfinite(p).all() and np.abs(widened.logits(x_wide)).max() < 50
    agree = (p.argmax(1) == plain.predict_proba(test[0]).argmax(1)).mean()
    assert agree > 0.98  # the new column carried no information and changes nothing


def test_a_missing_class_gets_low_probability_and_two_classes_work():
    x, y = _blobs(120, 0)
    keep = y != 2  # class 2 never labelled yet
    head = HeadTrainer().fit(x[keep], y[keep], 3, (x[keep], y[keep]))
    assert head.predict_proba(x).argmax(1).max() < 2
    assert head.predict_proba(x)[:, 2].max() < 0.05
    binary = HeadTrainer().fit(
        x[keep], (y[keep] == 1).astype(int), 2, (x, y.clip(0, 1))
    )
    assert binary.predict_proba(x).shape == (120, 2)


def test_temperature_calibrates_without_changing_predictions():
    # Clean training labels, 30 % wrong labels at validation and test time: the
    # head is right less often than its raw probabilities say.
    def noisy(n, seed):
        x, y = _blobs(n, seed, d=20)
        flip = np.random.default_rng(seed).random(n) < 0.3
        return x, np.where(flip, (y + 1) % 3, y)

    train, val, test = _blobs(200, 0, d=20), noisy(300, 1), noisy(2000, 2)
    raw = HeadTrainer(calibrate=False).fit(*train, 3, val)
    calibrated = HeadTrainer().fit(*train, 3, val)
    p_raw, p_cal = raw.predict_proba(test[0]), calibrated.predict_proba(test[0])
    np.testing.assert_array_equal(p_raw.argmax(1), p_cal.argmax(1))
    assert calibrated.temperature > 1  # softer: it was over-confident
    loss_raw = heads.log_loss(raw.predict_proba(val[0]), val[1])
    assert heads.log_loss(calibrated.predict_proba(val[0]), val[1]) < loss_raw
    loss_raw = heads.log_loss(p_raw, test[1])  # and it carries over to new data
    assert heads.log_loss(p_cal, test[1]) < loss_raw


def test_as_accurate_as_logistic_regression_and_better_calibrated_on_real_data():
    """scikit-learn's handwritten digits (real images, bundled, no download)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    test, val = slice(0, 600), slice(600, 900)
    for n in (100, 300):
        train = slice(900, 900 + n)
        ours = HeadTrainer().fit(x[train], y[train], 10, (x[val], y[val]))
        p = ours.predict_proba(x[test])
        scaler = StandardScaler().fit(x[train])
        lr = LogisticRegression(max_iter=5000).fit(scaler.transform(x[train]), y[train])
        q = lr.predict_proba(scaler.transform(x[test]))
        acc_ours = (p.argmax(1) == y[test]).mean()
        acc_lr = (q.argmax(1) == y[test]).mean()
        assert acc_ours >= acc_lr - 0.01, (n, acc_ours, acc_lr)
        assert expected_calibration_error(p, y[test]) < 0.05


def test_keras_model_computes_the_same_probabilities():
    train, val, test = _blobs(100, 0), _blobs(50, 1), _blobs(20, 2)
    head = HeadTrainer().fit(*train, 3, val)
    model = head.to_keras()
    assert isinstance(model, keras.Model)
    np.testing.assert_allclose(
        heads.predict_proba(model, test[0]), head.predict_proba(test[0]), atol=1e-5
    )
    np.testing.assert_array_equal(
        heads.predict_proba(head, test[0]), head.predict_proba(test[0])
    )
    with pytest.raises(ValueError, match="empty"):
        heads.predict_proba(model, np.zeros((0, 10)))
    with pytest.raises(TypeError, match="Head or a Keras model"):
        heads.predict_proba("head", test[0])


def test_expected_calibration_error():
    probs = np.array([[0.8, 0.2]] * 10)
    assert expected_calibration_error(probs, np.array([0] * 8 + [1] * 2)) == (
        pytest.approx(0.0)
    )
    assert expected_calibration_error(probs, np.ones(10, int)) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="do not match"):
        expected_calibration_error(probs, np.ones(3, int))


@pytest.mark.parametrize(
    "x, y, n_classes, validation, error, words",
    [
        (np.full((4, 3), np.nan), [0, 1, 2, 0], 3, None, ValueError, "train features"),
        (np.zeros((4, 3)), [0.0, 1.0, 2.0, 0.0], 3, None, TypeError, "integers"),
        (np.zeros((4, 3)), [0, 1, 2, 5], 3, None, ValueError, r"\[0, 3\)"),
        (np.zeros((4, 3)), [0, -1, 2, 0], 3, None, ValueError, r"\[0, 3\)"),
        (np.zeros((4, 3)), [0, 1, 2], 3, None, ValueError, "3 labels for 4 rows"),
        (np.zeros((4, 3)), [0, 1, 2, 0], 1, None, ValueError, "n_classes"),
        (np.zeros((0, 3)), [], 3, None, ValueError, "non-empty"),
        (
            np.zeros((4, 3)),
            [0, 1, 2, 0],
            3,
            (np.zeros((2, 5)), [0, 1]),
            ValueError,
            "validation has 5 features",
        ),
        (
            np.zeros((4, 3)),
            [0, 1, 2, 0],
            3,
            (np.zeros((2, 3)), [0, 7]),
            ValueError,
            "validation labels",
        ),
    ],
)
def test_bad_input_is_refused(x, y, n_classes, validation, error, words):
    with pytest.raises(error, match=words):
        HeadTrainer().fit(np.asarray(x), np.asarray(y), n_classes, validation)


def test_trained_head_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    splits = data.load_splits("offline")
    rng = np.random.default_rng(0)
    features = {
        s: (rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 5, n))
        for s, n in splits.sizes.items()
    }
    first = heads.trained_head(splits, features)
    fits = []
    real_fit = HeadTrainer.fit
    monkeypatch.setattr(
        HeadTrainer,
        "fit",
        lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = heads.trained_head(splits, features)
    assert fits == []  # loaded, not trained
    x = features["test"][0]
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))
    assert second.l2_scores == first.l2_scores and second.l2 == first.l2
    path = next((tmp_path / "heads").glob("*.npz"))
    path.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable"):
        third = heads.trained_head(splits, features)
    assert fits == [1]
    np.testing.assert_array_equal(first.predict_proba(x), third.predict_proba(x))
    with pytest.raises(TypeError, match="load_splits"):
        heads.trained_head(features)
