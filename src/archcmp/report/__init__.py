"""Stored analyses → an abstract report (``document.py``) → one renderer per format.

Renderers only lay out what ``document.py`` decided, so Markdown, HTML and the terminal cannot
disagree about a fact (ydata-profiling's description → structure → flavour split).
"""
