"""SQLAlchemy metadata holders shared by the plumbing tables."""

from sqlalchemy import MetaData

#: The outbox/inbox Table objects used at run time (each service's migrations create them
#: in its own schema; search_path makes the unqualified names resolve there).
METADATA_FOR_PLUMBING = MetaData()
