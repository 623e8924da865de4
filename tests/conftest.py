"""Shared test set-up. Tests run against the installed package (``pip install -e '.[test]'``)."""


def pytest_addoption(parser):
    parser.addoption("--device-address", default=None,
                     help="VISA resource of a physical SMU (2600 or 2400); tests that need one "
                          "are skipped without it")
