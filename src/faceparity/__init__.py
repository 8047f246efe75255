"""faceparity: open, statistically honest audits of demographic differentials in face recognition."""

__version__ = "0.1.0"
