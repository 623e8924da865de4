"""Reading a TOML file into a dict, with a one-line ``ConfigError`` for every way it can fail.

Every TOML reader in hilctl (run configs, presets, level tables, read-cost tables) goes
through ``read_toml``, so Python 3.10's ``tomli`` fallback and the error wording live here once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def read_toml(path: str | Path, what: str = "config file") -> dict:
    """The parsed document; ``what`` names the file's role in the error line."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
