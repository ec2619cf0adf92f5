"""Errors the local stack raises, each naming the component and what to do.

StackError
├── MissingDependency   a binary or jar is not installed (run ./dev setup)
├── PortInUse           a port the stack needs is taken by another process
└── NotReady            a component did not become ready before its deadline, or exited
"""


class StackError(Exception):
    """Base class of local-stack failures."""


class MissingDependency(StackError):
    pass


class PortInUse(StackError):
    pass


class NotReady(StackError):
    pass
