"""skyplex-voting: voting inference systems and the scaling law of their accuracy in the number of calls.

Importing the package is cheap; import the submodules you need (``skyplex_voting.law``,
``skyplex_voting.fit``, ...).
"""
