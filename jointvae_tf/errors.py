"""The one exception type for mistakes a user can make (bad flag, missing file, wrong shape)."""


class JointVAEError(ValueError):
    """An input problem a user can fix; its message names the input and what was expected.

    The CLI turns it into a one-line message and exit code 2.
    """


class ConfigError(JointVAEError):
    """A bad setting: ``argument`` is its path in :class:`~jointvae_tf.config.RunConfig` (``"train.epochs"``;
    a bare field name such as ``"epochs"`` when raised by a config object alone) and ``problem`` says what was
    expected. Front ends map ``argument`` to their own names (the CLI to its flags)."""

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument}: {problem}" if argument else problem)
        self.argument = argument
        self.problem = problem

    def within(self, section: str) -> "ConfigError":
        """The same error for the setting ``argument`` of the enclosing ``section``."""
        return ConfigError(f"{section}.{self.argument}" if self.argument else section, self.problem)
