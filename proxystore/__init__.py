"""proxystore: a declarative experiment database for architecture and proxy-dataset studies."""

from __future__ import annotations

__version__ = "0.1.0"

# Bump only when a change to training changes results (see CHANGELOG.md): it is part of every
# cell key, so bumping it makes every cell new again.
TRAINER_VERSION = "1"
