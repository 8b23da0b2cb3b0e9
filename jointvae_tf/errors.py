"""The exception types a user sees: their own mistakes (bad argument, missing file, wrong shape) and runs that
failed although their inputs were fine (training diverged, no server answered)."""

from __future__ import annotations

import errno


class JointVAEError(ValueError):
    """An input problem a user can fix; its message names the input and what was expected.

    The CLI turns it into a one-line message and exit code :attr:`exit_code` (2, as click's usage errors).
    """

    exit_code = 2


class RunFailure(JointVAEError):
    """The inputs were valid but the work failed (training diverged, no model server answered in time).

    The CLI prints its one line and exits with code 1.
    """

    exit_code = 1


class ConfigError(JointVAEError):
    """A bad argument or setting: ``argument`` is the name of the function argument (``"n"``) or the setting's
    path in :class:`~jointvae_tf.core.config.RunConfig` (``"train.epochs"``; a bare field name such as
    ``"epochs"`` when raised by a config object alone) and ``problem`` says what was expected. Front ends map
    ``argument`` to their own names (the CLI to its flags)."""

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument}: {problem}" if argument else problem)
        self.argument = argument
        self.problem = problem

    def within(self, section: str) -> "ConfigError":
        """The same error for the setting ``argument`` of the enclosing ``section``."""
        return ConfigError(f"{section}.{self.argument}" if self.argument else section, self.problem)


class JointVAEWarning(UserWarning):
    """Something a user should know that did not stop the work (a damaged checkpoint skipped for an older
    one); its message is one line naming the file. The CLI prints it as ``Warning: ...`` on stderr."""


_USER_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR})
"""Failed writes that the user's choice of place explains: no permission, a read-only file system, a file
where a folder should be (or the other way round)."""


def write_failure(path: str, what: str, error: BaseException) -> JointVAEError:
    """The one-line error for ``error`` (an OSError or TensorFlow's) raised while writing ``what`` to ``path``.

    A place the user chose that cannot be written (no permission, read-only, not a folder) is their mistake,
    a :class:`JointVAEError`; anything else (disk full, file too large) a :class:`RunFailure`.
    """
    reason = (os_reason(error) if isinstance(error, OSError) else " ".join(str(error).split())[:160]) \
        or type(error).__name__
    kind = JointVAEError if getattr(error, "errno", None) in _USER_ERRNOS else RunFailure
    return kind(f"{path}: could not write {what} ({reason})")


def os_reason(error: OSError) -> str:
    """An OSError's reason without the path it repeats: ``No space left on device``."""
    return error.strerror or " ".join(str(error).split())[:160]
