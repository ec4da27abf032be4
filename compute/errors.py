"""Errors the command line reports to the user as one clear line, without a traceback."""


class InputError(Exception):
    """A user-supplied file or option is wrong.

    The message names the file, the record (line, VCF record, gene) where it
    applies, what was expected and what was found.
    """


class ModelError(InputError):
    """The model or its weights directory cannot be used as asked."""
