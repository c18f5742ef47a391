"""One small error hierarchy: the library raises, the CLI turns each into a one-line message and an exit code."""


class MobikitError(Exception):
    """A runtime failure the user can act on (exit 1)."""

    exit_code = 1


class UsageError(MobikitError):
    """The command line or the inputs are wrong (exit 2)."""

    exit_code = 2
