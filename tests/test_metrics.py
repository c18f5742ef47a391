"""The comparison rules behind every accuracy and agreement figure, on scores small enough to check by hand (fast,
in-process: benchmarks/mutation.py runs this file against each mutant of mobikit.metrics)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from mobikit.labels import ClassList, generic
from mobikit.metrics import Comparison, agreement, compare, confusions, kl_divergence, top_classes, top_k_accuracy

# 4 images × 4 classes; image 1 ties classes 1 and 2, image 3 ties all four
SCORES = np.array([[0.1, 0.2, 0.6, 0.1],
                   [0.0, 0.4, 0.4, 0.2],
                   [0.7, 0.1, 0.1, 0.1],
                   [0.25, 0.25, 0.25, 0.25]])
OTHER = np.array([[0.1, 0.1, 0.7, 0.1],
                  [0.1, 0.2, 0.5, 0.2],
                  [0.1, 0.7, 0.1, 0.1],
                  [0.4, 0.2, 0.2, 0.2]])
CLASSES = ClassList(("", "", "", ""), ("cat", "dog", "fox", "owl"))


def test_top_classes_best_first_ties_to_the_lower_index():
    assert top_classes(SCORES, 2).tolist() == [[2, 1], [1, 2], [0, 1], [0, 1]]
    assert top_classes(SCORES[3], 4).tolist() == [0, 1, 2, 3]  # one image, all tied: index order
    assert top_classes(np.array([[3.0, 1.0, 2.0]]), 1).tolist() == [[0]]
    # 1000 classes in three tied groups: numpy's default (unstable) sort would scramble each group
    many = np.random.default_rng(0).integers(0, 3, (4, 1000)).astype(float)
    for row, top in zip(many, top_classes(many, 1000)):
        expected = [i for value in (2.0, 1.0, 0.0) for i in range(1000) if row[i] == value]
        assert top.tolist() == expected


def test_top_k_accuracy_counts_hits_among_the_k_best():
    labels = [2, 2, 1, 3]
    assert top_k_accuracy(SCORES, labels, 1) == 0.25  # only image 0 (image 1's tie goes to class 1)
    assert top_k_accuracy(SCORES, labels, 2) == 0.75  # image 1's class 2 and image 2's class 1 are second
    assert top_k_accuracy(SCORES, labels, 4) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no images: nan by rule, not numpy's "mean of empty slice"
        assert math.isnan(top_k_accuracy(SCORES[:0], [], 1))


def test_agreement_is_the_fraction_of_equal_top1():
    assert agreement(SCORES, OTHER) == 0.5  # images 0 and 3 (its tie breaks to class 0 like OTHER's max)
    assert agreement(SCORES, SCORES) == 1.0
    assert agreement(SCORES[1:2], OTHER[1:2]) == 0.0  # the tie resolves to class 1, not 2


def test_kl_divergence_by_hand():
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    assert kl_divergence(p, q) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75), rel=1e-12)
    assert kl_divergence(p, p) == 0.0
    # the mean over images, on scores renormalised first (sums of 2 and 4 here)
    p2 = np.array([[1.0, 1.0, 2.0], [1.0, 3.0, 4.0]])  # sums 4 and 8
    q2 = np.array([[2.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # sums 4 and 3
    rows = [sum(a / pa * math.log((a / pa) / (b / qb)) for a, b in zip(p_row, q_row))
            for p_row, q_row, pa, qb in zip(p2.tolist(), q2.tolist(), (4, 8), (4, 3))]
    assert kl_divergence(p2, q2) == pytest.approx(sum(rows) / 2, rel=1e-12)
    # zeros are floored at eps, then renormalised: a disjoint pair costs log(1/eps) and not infinity
    eps = 1e-7
    expected = (1 / (1 + eps)) * math.log(1 / eps) + (eps / (1 + eps)) * math.log(eps)
    assert kl_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(expected, rel=1e-6)
    assert kl_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), eps=1e-3) == pytest.approx(
        (1 / 1.001) * math.log(1e3) + (1e-3 / 1.001) * math.log(1e-3), rel=1e-6)


def test_confusions_are_the_most_frequent_mistakes_first():
    scores = np.eye(4)[[1, 1, 2, 0, 3, 1]]  # predicted classes
    labels = [0, 0, 0, 0, 3, 2]  # true classes: three mistakes are (cat→dog, cat→dog, cat→fox), one fox→dog
    assert confusions(scores, labels, CLASSES) == [
        {"true": "cat", "predicted": "dog", "count": 2},
        {"true": "cat", "predicted": "fox", "count": 1},
        {"true": "fox", "predicted": "dog", "count": 1}]
    assert confusions(scores, labels, CLASSES, most=1) == [{"true": "cat", "predicted": "dog", "count": 2}]
    assert confusions(np.eye(4), [0, 1, 2, 3], CLASSES) == []
    eleven = confusions(np.eye(12)[1:], [0] * 11, generic(12))  # 11 different mistakes: the 10 first kept
    assert len(eleven) == 10 and eleven[-1] == {"true": "class_0", "predicted": "class_10", "count": 1}


def test_compare_labelled_unlabelled_and_empty():
    # 7 classes, so that top-5 differs from top-1 and from "all". Labels: image 0's is float's 2nd and int8's 6th,
    # image 3's float's 6th and int8's 2nd
    descending, ascending = [7, 6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6, 7]
    reference = np.array([descending] * 4, dtype=float)
    other = np.array([ascending, [6, 7, 5, 4, 3, 2, 1], descending, ascending], dtype=float)
    labelled = compare(reference, other, [1, 0, 0, 5])
    assert labelled == Comparison(4, True, 0.5, 0.25, 0.75, 0.75, 0.25)
    assert labelled.to_json() == {"n": 4, "labelled": True, "float_top1": 0.5, "quant_top1": 0.25,
                                  "float_top5": 0.75, "quant_top5": 0.75, "agreement": 0.25}
    # one unlabelled image makes the whole set unlabelled: agreement only
    assert compare(SCORES, OTHER, [2, None, 1, 3]) == Comparison(4, False, agreement=0.5)
    assert compare(SCORES[:0], OTHER[:0], []) == Comparison() == Comparison(0, False, None, None, None, None, None)
