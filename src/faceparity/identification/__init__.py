"""1:N identification audits: an evaluation of a model on labelled data, nothing more.

faceparity offers no live identification, watch-list alerting or search service: this
package measures how an open-set 1:N search would err, per demographic group, on the
user's labelled embeddings, and what a measured differential means for a stated
deployment.

Where things live: :mod:`~faceparity.identification.protocol` (who is enrolled and who
searches), :mod:`~faceparity.identification.search` (blocked search, top-R selection),
:mod:`~faceparity.identification.metrics` (FPIR, FNIR, CMC, false candidates, gallery
size), :mod:`~faceparity.review.scenario` (expected false candidates of a
deployment), :mod:`~faceparity.results.identification` (the ``identification`` section
of ``results.json``) and :mod:`~faceparity.identification.audit` (all of it on an
embeddings table).
"""

from faceparity.identification.audit import audit_identification
from faceparity.identification.metrics import (
    DEFAULT_TARGET_FPIRS,
    audit_searches,
    candidate_lists,
    cmc,
    search_rates,
    threshold_at_fpir,
)
from faceparity.identification.protocol import (
    Protocol,
    ProtocolConfig,
    build_protocol,
    read_roles,
    split_protocol,
)
from faceparity.identification.search import SearchConfig, SearchResult, search
from faceparity.results.identification import IdentificationResult

__all__ = [
    # protocol
    "Protocol",
    "ProtocolConfig",
    "build_protocol",
    "read_roles",
    "split_protocol",
    # search
    "SearchConfig",
    "SearchResult",
    "search",
    # metrics
    "DEFAULT_TARGET_FPIRS",
    "candidate_lists",
    "cmc",
    "audit_searches",
    "search_rates",
    "threshold_at_fpir",
    # results and the whole audit
    "IdentificationResult",
    "audit_identification",
]
