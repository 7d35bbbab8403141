"""The one exception the local stack raises."""


class StackError(RuntimeError):
    """A service could not be prepared, started or health-checked.

    The message always says what is missing or wrong and how to fix it.
    """
