"""Hypothesis strategies that several test modules draw from."""

import string

from hypothesis import strategies as st
from hypothesis.provisional import get_top_level_domains

_ALNUM = string.ascii_letters + string.digits

# A DNS label as RFC 1035 writes it: a letter first, a letter or digit last, hyphens between,
# 63 characters at most. Built from its characters, not drawn from a regular expression as
# hypothesis's own domains() draws each label: that took half of test_addresses.py's time.
_label = st.one_of(
    st.sampled_from(string.ascii_letters),
    st.builds(lambda first, middle, last: first + middle + last,
              st.sampled_from(string.ascii_letters), st.text(_ALNUM + "-", max_size=61), st.sampled_from(_ALNUM)),
)
# The IANA list of top-level domains that domains() uses (upper case there), in any case.
_tld = st.builds(lambda tld, case: case(tld), st.sampled_from(get_top_level_domains()),
                 st.sampled_from([str.lower, str.upper, str.capitalize]))

domain_names = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=4), _tld)

# st.emails(): its local parts (RFC 5322's atext characters, up to 64), on those domains.
emails = st.emails(domains=domain_names)
