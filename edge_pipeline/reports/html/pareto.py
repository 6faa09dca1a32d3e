"""The accuracy/latency Pareto front: points no other point beats on both speed and accuracy."""

from __future__ import annotations


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points with (latency, accuracy) not dominated: lower latency and higher accuracy win.

    A point is dominated when another is at least as fast and at least as accurate, and strictly
    better in one. Returned in order of increasing latency.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best_accuracy = float("-inf")
    for index in order:
        if points[index][1] > best_accuracy:
            front.append(index)
            best_accuracy = points[index][1]
    return front
