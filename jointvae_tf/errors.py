"""The one exception type for mistakes a user can make (bad flag, missing file, wrong shape)."""


class JointVAEError(ValueError):
    """An input problem a user can fix; its message names the input and what was expected.

    The CLI turns it into a one-line message and exit code 2.
    """
