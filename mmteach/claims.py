"""What a lesson claims about trained results, checked with a margin.

Trained numbers (accuracies, losses, learned weights, BLEU, recall) differ in their last
digits between machines: another core count, oneDNN on or off, another CPU family or
library version. The course therefore shows them in cells tagged ``nbval-ignore-output``
(nbval runs the cell but does not compare its digits) and states each claim the prose
makes about them with :func:`claim`, whose printed line is the same on every machine, so
nbval compares it, and which raises when the claim no longer holds.

Example
-------
>>> claim("fused accuracy is at least 0.88", 0.93, at_least=0.88)
✓ fused accuracy is at least 0.88
>>> claim("the gate prefers the clean modality", True)
✓ the gate prefers the clean modality
>>> claim("fused accuracy is at least 0.88", 0.52, at_least=0.88)
Traceback (most recent call last):
...
AssertionError: claim does not hold: fused accuracy is at least 0.88 (measured 0.52, needs >= 0.88)
"""

from __future__ import annotations

from mmteach.validation import check_real

__all__ = ["claim"]


def claim(
    statement: str,
    value: float | bool,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> None:
    """Check one claim a lesson makes about a measured result, and print it.

    Parameters
    ----------
    statement : str
        The claim in words, as the lesson says it ("fusion beats text alone by at least
        0.25"). It is printed, so it must not contain measured digits.
    value : float or bool
        The measured quantity the claim is about; with neither bound given, a bool that
        says whether the claim holds.
    at_least, at_most : float, optional
        The margin: the claim holds when ``at_least <= value <= at_most``. Choose bounds
        that hold on every machine and seed, not the digits one run printed.

    Raises
    ------
    AssertionError
        When the claim does not hold; the message gives the measured value and the bound.
    TypeError, ValueError
        For a statement that is not a non-empty str, a value of the wrong kind, or NaN.

    Examples
    --------
    >>> claim("recall@10 is far above chance (0.03)", 0.71, at_least=0.3)
    ✓ recall@10 is far above chance (0.03)
    >>> claim("the learned weights sum to 1", 1.0, at_least=0.999, at_most=1.001)
    ✓ the learned weights sum to 1
    """
    if not isinstance(statement, str):
        raise TypeError(f"statement: expected a str, got {type(statement).__name__} {statement!r}")
    if not statement.strip():
        raise ValueError("statement: expected the claim in words, got an empty str")
    if at_least is None and at_most is None:
        # numpy's bool_ is not a bool; accept it as the truth value it is
        if type(value).__name__ not in ("bool", "bool_"):
            raise TypeError(
                f"value: expected a bool when neither at_least nor at_most is given, "
                f"got {type(value).__name__} {value!r}"
            )
        holds, detail = bool(value), "measured False"
    else:
        number = check_real("value", value, finite=False)
        low = None if at_least is None else check_real("at_least", at_least, finite=False)
        high = None if at_most is None else check_real("at_most", at_most, finite=False)
        if low is not None and high is not None and low > high:
            raise ValueError(f"at_least: expected at most at_most ({high}), got {low}")
        holds = (low is None or number >= low) and (high is None or number <= high)
        bounds = " and ".join(
            text for text in (low is not None and f">= {low:g}", high is not None and f"<= {high:g}") if text
        )
        detail = f"measured {number:.4g}, needs {bounds}"
    if not holds:
        raise AssertionError(f"claim does not hold: {statement} ({detail})")
    print(f"✓ {statement}")
