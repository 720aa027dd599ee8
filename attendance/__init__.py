"""Attendance Platform: a trust's daily attendance registers turned into DfE measures,
data shares and school priority lists."""

__version__ = "0.1.0"
