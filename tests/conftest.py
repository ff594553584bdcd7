"""Test-suite root.  Being a conftest outside a package, pytest puts its
folder (``tests/``) on ``sys.path``, so the shared helpers here
(``tool_loader``) import from any test module."""
