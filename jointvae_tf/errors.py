"""The exception types a user sees: their own mistakes (bad argument, missing file, wrong shape) and runs that
failed although their inputs were fine (training diverged, no server answered)."""


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
