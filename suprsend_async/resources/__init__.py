"""The hub's REST resources, one module each, all on the shared request core."""

from .objects import Objects
from .users import BulkUsersEdit, Users

__all__ = ["BulkUsersEdit", "Objects", "Users"]
