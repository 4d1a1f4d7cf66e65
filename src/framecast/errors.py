"""The one exception type for mistakes a user can fix: the command line prints it as one line and exits 2."""


class UserError(Exception):
    """A problem with the user's input (file, shape, option), with a message that says what was expected."""
