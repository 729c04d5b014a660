"""Accuracy evaluation (``python -m bot eval``) and benchmark (``python -m bot bench``)."""
