"""Threshold calibration on validation outputs."""

from __future__ import annotations

import numpy as np

from core.intents.calibration import calibrate, evaluate_threshold


def test_with_out_of_scope_examples_separates_them() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.25])
    correct = np.array([True, True, True, False, False, False])
    oos = np.array([False, False, False, True, True, True])
    calibration = calibrate(conf, correct, oos)
    assert calibration.method == "out_of_scope_examples"
    assert 0.3 < calibration.threshold <= 0.7
    report = evaluate_threshold(conf, correct, oos, calibration.threshold)
    assert report.out_of_scope_recall == 1.0 and report.in_scope_accuracy == 1.0


def test_target_precision_picks_lowest_threshold_reaching_it() -> None:
    conf = np.array([0.95, 0.9, 0.85, 0.6, 0.5, 0.4])
    correct = np.array([True, True, True, True, False, False])
    calibration = calibrate(conf, correct, np.zeros(6, bool), target_precision=0.95)
    assert calibration.method == "target_precision" and calibration.threshold == 0.6
    report = evaluate_threshold(conf, correct, np.zeros(6, bool), calibration.threshold)
    assert report.out_of_scope_recall is None
    assert report.in_scope_rejected == 2 / 6
