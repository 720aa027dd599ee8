"""Synthetic trust generator (SPEC 9 `attendance generate`): configuration, pupil rolls and
register deliveries in all four MIS formats, realistic enough to exercise every platform rule.
"""

from attendance.generate.trust import generate_trust

__all__ = ["generate_trust"]
