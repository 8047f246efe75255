"""Hypothesis profiles of the fuzz suite (tests/test_fuzz_cli.py, tests/test_fuzz_readers.py).

The profiles are registered here and used only by the fuzz modules (through
``tests/_fuzz.py``), never loaded globally: the other property tests keep their own
settings. ``FACEPARITY_FUZZ=long`` selects the long profile (see ``tests/_fuzz.py``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}

# The run of `make test`: a fixed seed, so that every run tries the same cases, and no
# shrinking, so that a failing case costs no more time than a passing one (it is
# reported as generated; the fixed seed replays it).
settings.register_profile(
    "faceparity-fuzz",
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    **_COMMON,
)
# The long run: new random cases on every run, failures shrunk to a minimal case (which
# is printed with its seed and a @reproduce_failure blob).
settings.register_profile("faceparity-fuzz-long", derandomize=False, **_COMMON)
