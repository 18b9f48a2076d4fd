"""The hub's REST resources, one module each, all on the shared request core."""

from .users import BulkUsersEdit, Users

__all__ = ["BulkUsersEdit", "Users"]
