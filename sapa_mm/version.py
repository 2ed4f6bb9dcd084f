"""The version of sapa-mm, read by pyproject.toml and ``sapa_mm``."""
__version__ = '0.2.0'
