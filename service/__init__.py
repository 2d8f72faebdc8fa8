"""newsbrief: turn a news article into a structured, evidence-grounded brief."""

__version__ = "0.1.0"
