"""genomics: learn how DNA sequence controls chromatin, and use it to explain variants."""

__version__ = "0.1.0"
