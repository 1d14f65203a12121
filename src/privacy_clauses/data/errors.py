"""The project's one error class: a problem with the user's input, told in one line."""


class PrivacyClausesError(ValueError):
    """Bad input, a missing or invalid file, model or config: the CLI prints ``error: <message>``
    and exits 2. Every layer raises it (or a subclass); anything else is a bug and surfaces."""
