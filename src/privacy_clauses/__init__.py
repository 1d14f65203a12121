"""privacy-clauses: classify the clauses of website privacy policies.

Each clause gets OPP-115 practice categories and GDPR Art. 6(1) legal bases.
"""

__version__ = "0.1.0"
